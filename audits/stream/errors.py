"""The one exception a stream request is refused with; each path turns it into a plain-text answer."""


class StreamError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
