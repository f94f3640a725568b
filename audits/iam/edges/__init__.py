"""Escalation edges, one module per service family (after PMapper's layout; our own code).

An edge "source can gain the rights of target" is proven by evaluator calls on the snapshot's resources. Each
family module declares its methods once, in METHODS (name, actions, how, docs link: the catalog in
audits.iam.edges.catalog and every table of methods derive from them), and offers some of:
  predecessors(g, target) -> [Edge]   who can become `target` (a user or role) by this family's methods
  self_edges(g, p) -> [Edge]          how `p` makes itself administrator (source == target == p)
  modify_edges(g, p, ...) -> Edges     whose rights `p` can raise to administrator (it must also reach them)
Candidates come from the index of allowed Resource patterns by action (Graph.candidates), never from a loop over
all pairs of principals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audits.iam import actions as ds
from audits.iam.authz import Proof

# Which service principal runs what a PassRole method creates, keyed by the creating action's service (the graph
# proves a method against one trusting service; PassMethod.trusted names another where the literature does).
SERVICE_OF = {
    "ec2": "ec2.amazonaws.com",
    "autoscaling": "ec2.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "glue": "glue.amazonaws.com",
    "cloudformation": "cloudformation.amazonaws.com",
    "datapipeline": "datapipeline.amazonaws.com",
    "sagemaker": "sagemaker.amazonaws.com",
    "codebuild": "codebuild.amazonaws.com",
    "ecs": "ecs-tasks.amazonaws.com",
    "apprunner": "tasks.apprunner.amazonaws.com",
    "bedrock-agentcore": "bedrock-agentcore.amazonaws.com",
    "batch": "ecs-tasks.amazonaws.com",
    "elasticmapreduce": "elasticmapreduce.amazonaws.com",
    "states": "states.amazonaws.com",
    "emr-serverless": "emr-serverless.amazonaws.com",
    "kinesisanalytics": "kinesisanalytics.amazonaws.com",
    "braket": "braket.amazonaws.com",
    "omics": "omics.amazonaws.com",
    "gamelift": "gamelift.amazonaws.com",
    "imagebuilder": "ec2.amazonaws.com",  # the build instance runs with the passed instance profile's role
    "ssm": "ssm.amazonaws.com",  # Automation runs its steps as the passed AutomationAssumeRole
}
# Where the literature describes the methods (the docs link of each declaration).
RHINO = "https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/"
IAM_VULNERABLE = "https://github.com/BishopFox/iam-vulnerable"
PMAPPER = "https://github.com/nccgroup/PMapper"
PATHFINDING = "https://pathfinding.cloud/"
AWS_BOUNDARIES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html"
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
class Method:
    """One escalation method, declared once by the edge module that proves it.

    requires: every requirement (a tuple of alternative actions, lowercased) the method needs besides what its
    kind adds (iam:PassRole for a PassMethod); kind says how the graph finds it:
      "assume"    sts:AssumeRole into a role whose trust admits the principal
      "takeover"  act on a principal or an existing resource that runs with a role (candidates: holders of the
                  first requirement)
      "pass"      pass a role to a new resource of a service that runs one's code (PassMethod)
      "self"      change oneself (a policy on oneself or one's group, a held policy's version, one's boundary,
                  a group to join, a new role or user one controls); the same writes on others raise their rights
    """

    name: str
    how: str
    requires: tuple[tuple[str, ...], ...]
    kind: str = field(default="takeover", kw_only=True)
    docs: str = field(default=PATHFINDING, kw_only=True)

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action the declaration names, PassRole included for a PassMethod."""
        return tuple(dict.fromkeys(a for r in self.all_requirements for a in r))

    @property
    def all_requirements(self) -> tuple[tuple[str, ...], ...]:
        return self.requires


@dataclass(frozen=True)
class PassMethod(Method):
    """iam:PassRole to a service, plus every requirement (alternatives per tuple) to make it run code."""

    trusted: str = ""  # the service principal the passed role trusts, when it is not the creating service's
    kind: str = field(default="pass", kw_only=True)

    @property
    def all_requirements(self) -> tuple[tuple[str, ...], ...]:
        return (("iam:passrole",), *self.requires)

    @property
    def service(self) -> str:
        return self.trusted or SERVICE_OF[self.requires[0][0].partition(":")[0]]


@dataclass(frozen=True)
class TakeoverMethod(Method):
    """Taking over an existing resource that runs with a role trusting `service`."""

    service: str = ""
    what: str = ""  # what kind of resource, for the approximation note


def req(*requirements: str | tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple((r,) if isinstance(r, str) else r for r in requirements)
