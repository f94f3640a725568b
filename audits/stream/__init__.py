"""The live stream: one hub per web process, the lean ASGI app in front of Django, stream auth, SSE frames.

Every stream request, whichever way it arrives (the lean app or Django's fallback view), goes through
`serve.answer`.
"""
