"""iam:PassRole to a service that runs one's code with the role, and takeovers of existing resources with roles.

Shared by the service families: a family lists its methods; this module proves them. PassRole is asked on the
role's ARN with iam:PassedToService set to the service the role trusts; the creating and running actions are asked
on a resource of the principal's choosing (it names the new function, instance or stack).
"""

from __future__ import annotations

from collections.abc import Iterable

from audits.iam.account import Principal
from audits.iam.authz import Proof
from audits.iam.edges import NO_INVENTORY, Edge, PassMethod, TakeoverMethod

PASS = "iam:passrole"
EC2 = "ec2.amazonaws.com"
# EC2 runs a role only through an instance profile: for a role the export lists in none, one must be made for it.
NEW_PROFILE = (("iam:createinstanceprofile",), ("iam:addroletoinstanceprofile",))


def pass_candidates(g, target: Principal, methods: Iterable[PassMethod]) -> Iterable[Principal]:
    trusted = g.services_trusted(target) if target.type == "role" else ()
    usable = [m for m in methods if m.service in trusted]
    if not usable:
        return ()
    # Only principals that could also create what runs the role: holders of a first requirement.
    creators = g.holder_arns(tuple(sorted({a for m in usable for a in m.requires[0]})))
    # ...and, of those, the ones that can: pass_edge needs the whole run, so the rest are never asked per target.
    key = tuple(m.name for m in usable)
    able = g.able(key, creators, tuple(m.requires for m in usable))
    services = {m.service for m in usable}
    # Those refused PassRole to every one of these services whatever the role are not offered the next role.
    return [
        p
        for p in g.pending_candidates(PASS, target.arn, key, able)
        if any((p.arn, service) not in g.pass_refused for service in services)
    ]


def pass_edge(g, source: Principal, target: Principal, methods: Iterable[PassMethod]) -> Edge | None:
    if target.type != "role":
        return None
    trusted = g.services_trusted(target)
    subject = g.subject(source)
    for method in methods:
        if method.service not in trusted:
            continue
        refused = (source.arn, method.service)
        if refused in g.pass_refused:
            continue
        run = g.requirements(source, method.requires)
        if run is None:
            continue
        if method.service == EC2 and not g.has_instance_profile(target):
            made = g.requirements(source, NEW_PROFILE)
            if made is None:
                continue
            run = (run[0] + made[0], run[1] + made[1])
        to_service = {"iam:passedtoservice": method.service}
        passed = g.authz.can_act_on(subject, PASS, target.arn, to_service)
        if passed is None:
            # Refused whatever the role (every PassRole statement on "*", no Allow whose conditions admit this
            # service, or an unconditional Deny of it on "*"): not asked again for the next role. Whether it is
            # does not depend on the role either, so it is asked once (pass_open: it is not).
            if refused not in g.pass_open:
                if (
                    g.authz.evaluator.resource_blind(subject, PASS)
                    or g.authz.never_allowed(subject, PASS, to_service)
                    or g.authz.denied_everywhere(subject, PASS)
                ):
                    g.pass_refused.add(refused)
                else:
                    g.pass_open.add(refused)
            continue
        return Edge(
            source.arn, target.arn, method.name, method.how, Proof((passed,)) + run[0], target.arn, (PASS, *run[1])
        )
    return None


def takeover_candidates(g, target: Principal, methods: Iterable[TakeoverMethod]) -> Iterable[Principal]:
    if target.type != "role":
        return ()
    trusted = g.services_trusted(target)
    usable = [m for m in methods if m.service in trusted and (m.service != EC2 or g.has_instance_profile(target))]
    if not usable:
        return ()

    # The same holders answer for every role these methods reach: find those that meet a method's requirements
    # once, and offer each target only those that have not escalated yet.
    key = ("takeover", *(m.name for m in usable))

    def able() -> list[Principal]:
        holders = {p.arn: p for m in usable for p in g.holders_of(m.requires[0])}
        meeting = g.able(key, holders, tuple(m.requires for m in usable))
        return [p for arn, p in holders.items() if arn in meeting]

    return g.unescalated(key, able)


def takeover_edge(g, source: Principal, target: Principal, methods: Iterable[TakeoverMethod]) -> Edge | None:
    if target.type != "role":
        return None
    trusted = g.services_trusted(target)
    for method in methods:
        if method.service not in trusted:
            continue
        if method.service == EC2 and not g.has_instance_profile(target):
            continue  # an instance runs with a role only through an instance profile, which the export lists
        run = g.requirements(source, method.requires)
        if run is None:
            continue
        note = NO_INVENTORY.format(what=method.what, service=method.service)
        return Edge(source.arn, target.arn, method.name, method.how, run[0], target.arn, run[1], note)
    return None


def family(pass_methods: tuple[PassMethod, ...], takeovers: tuple[TakeoverMethod, ...] = ()):
    """candidates/edge functions for a service family module."""

    def candidates(g, target: Principal) -> Iterable[Principal]:
        yield from pass_candidates(g, target, pass_methods)
        yield from takeover_candidates(g, target, takeovers)

    def edge(g, source: Principal, target: Principal) -> Edge | None:
        return pass_edge(g, source, target, pass_methods) or takeover_edge(g, source, target, takeovers)

    return candidates, edge
