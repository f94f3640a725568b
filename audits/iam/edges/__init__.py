"""Escalation edges, one module per service family (after PMapper's layout; our own code).

An edge "source can gain the rights of target" is proven by evaluator calls on the snapshot's resources. Each
family module offers some of:
  predecessors(g, target) -> [Edge]   who can become `target` (a user or role) by this family's methods
  self_edges(g, p) -> [Edge]          how `p` makes itself administrator (source == target == p)
  modify_edges(g, p) -> [Edge]        whose rights `p` can raise to administrator (it must also reach them)
Candidates come from the index of allowed Resource patterns by action (Graph.candidates), never from a loop over
all pairs of principals.
"""

from __future__ import annotations

from dataclasses import dataclass

from audits.iam import actions as ds
from audits.iam.authz import Proof
from audits.iam.escalation import PASS_TARGETS

# Which service principal runs what a PassRole method creates, keyed by the creating action's service: the first
# of the policy-level table's (the graph proves a method against one trusting service; PassMethod.trusted names
# another where the literature does).
SERVICE_OF = {service: principals[0] for service, principals in PASS_TARGETS.items()}
NO_INVENTORY = (
    "approximation: the snapshot has no inventory of {what}; any of them could run with a role that "
    "trusts {service}, so every such role is a target"
)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    method: str  # Rhino Security Labs / Bishop Fox name
    how: str
    proof: Proof
    via: str = ""  # the resource the method acts on (a role, a user, a policy, a group)
    actions: tuple[str, ...] = ()
    note: str = ""  # how the edge was approximated, when it was

    @property
    def conditions(self) -> tuple:
        return self.proof.conditions

    def hop(self) -> dict:
        out = {
            "from": self.source,
            "to": self.target,
            "method": self.method,
            "via": self.via,
            "conditions": [c.to_dict() for c in self.conditions],
        }
        if self.note:
            out["note"] = self.note
        return out

    def display_actions(self) -> list[str]:
        return [ds.display(a) for a in self.actions]


@dataclass(frozen=True)
class PassMethod:
    """iam:PassRole to a service, plus every requirement (alternatives per tuple) to make it run code."""

    name: str
    how: str
    requires: tuple[tuple[str, ...], ...]
    trusted: str = ""  # the service principal the passed role trusts, when it is not the creating service's

    @property
    def service(self) -> str:
        return self.trusted or SERVICE_OF[self.requires[0][0].partition(":")[0]]


@dataclass(frozen=True)
class TakeoverMethod:
    """Taking over an existing resource that runs with a role trusting `service`."""

    name: str
    how: str
    requires: tuple[tuple[str, ...], ...]
    service: str
    what: str  # what kind of resource, for the approximation note


def req(*requirements: str | tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple((r,) if isinstance(r, str) else r for r in requirements)
