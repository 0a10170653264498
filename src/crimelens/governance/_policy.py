"""Who may do what: role permissions and a deployment's use policy.

Roles (see :class:`Role`): analysts run models; supervisors decide review items;
oversight-board members comment, vote, renew and may suspend; auditors read
everything and change nothing; administrators manage users and activate what the
board approved. Separation of duties is deliberate: an administrator cannot vote
and cannot decide a review item.

Actions outside the governance namespaces (``forecast.run``, ``link.similar``,
``risk.score``, ...) are model uses: allowed to analysts, supervisors and
administrators; auditors and board members may only run audits (``audit.*``) or
read (``*.list``, ``*.show``, ``*.card``, ...).

A :class:`UsePolicy` is the configuration a deployment is approved with (NYC POST
Act / CCOPS style): allowed purposes and roles, retention per data class, sharing
allow-list, which actions produce actionable outputs (these wait for human
review), the two-person rule, the minimum public-comment period and how long an
approval lasts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crimelens.errors import InputError, InvalidParameterError
from crimelens.governance._actor import Role

__all__ = ["DEMO_SETTING", "GOVERNANCE_PERMISSIONS", "MIN_COMMENT_DAYS_FLOOR", "UsePolicy", "board_quorum_floor",
           "role_allows"]

_STAFF = frozenset({Role.ANALYST, Role.SUPERVISOR, Role.ADMIN})
_ALL_USERS = frozenset(Role) - {Role.PUBLIC}
_EVERYONE = frozenset(Role)
_READERS = _ALL_USERS

#: Governance actions and the roles that may perform them.
GOVERNANCE_PERMISSIONS: Mapping[str, frozenset[Role]] = {
    "users.add": frozenset({Role.ADMIN}),
    "users.disable": frozenset({Role.ADMIN}),
    "users.rotate_token": frozenset({Role.ADMIN}),
    "users.authenticate": _EVERYONE,
    "users.list": frozenset({Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR, Role.BOARD}),
    "models.register": _STAFF,
    "models.describe": _STAFF,
    "models.card": _EVERYONE,  # the measured accuracy the public comments on
    "models.list": _READERS,
    "datasheets.write": _STAFF,
    "datasheets.show": _READERS,
    "deployments.create": _STAFF,
    "deployments.revise": _STAFF,  # rejected -> draft, by whoever may propose
    "deployments.assess": _STAFF,
    "deployments.open_comment": frozenset({Role.SUPERVISOR, Role.ADMIN}),
    "deployments.comment": _EVERYONE,
    "deployments.start_review": frozenset({Role.SUPERVISOR, Role.ADMIN}),
    "deployments.board_comment": frozenset({Role.BOARD}),
    "deployments.vote": frozenset({Role.BOARD}),
    "deployments.close_review": frozenset({Role.BOARD}),
    "deployments.activate": frozenset({Role.ADMIN}),
    "deployments.suspend": frozenset({Role.SUPERVISOR, Role.ADMIN, Role.BOARD}),
    "deployments.resume": frozenset({Role.ADMIN, Role.BOARD}),
    "deployments.open_renewal": frozenset({Role.SUPERVISOR, Role.ADMIN, Role.BOARD}),
    "deployments.renew": frozenset({Role.BOARD}),
    "deployments.decommission": frozenset({Role.ADMIN, Role.BOARD}),
    "deployments.purge": frozenset({Role.ADMIN}),
    "deployments.list": _EVERYONE,  # what is deployed, and under which policy, is public
    "deployments.show": _EVERYONE,
    "killswitch.engage": frozenset({Role.SUPERVISOR, Role.ADMIN, Role.BOARD}),
    "killswitch.release": frozenset({Role.ADMIN, Role.BOARD}),
    "killswitch.show": _EVERYONE,  # whether every deployment is stopped is public
    "review.decide": frozenset({Role.SUPERVISOR}),
    "review.list": _READERS,
    "incidents.report": _ALL_USERS,
    "complaints.file": _EVERYONE,
    "complaints.respond": frozenset({Role.ADMIN, Role.BOARD}),
    "complaints.list": _READERS,
    "complaints.status": _EVERYONE,  # with the complaint's id, its receipt
    "ledger.verify": _EVERYONE,
    "ledger.head": _EVERYONE,
    "ledger.proof": _EVERYONE,
    "ledger.list": _READERS,
    "ledger.export": _READERS,
    "report.annual": _EVERYONE,
    # the client addresses refused by the API's limits (in memory only): for the administrator who
    # blocks them and the auditor who checks that the limits do not shut the public out
    "limits.view": frozenset({Role.ADMIN, Role.AUDITOR}),
    # a backup holds every incident and output (and, with the key, the power to sign heads)
    "store.backup": frozenset({Role.ADMIN}),
    "store.restore": frozenset({Role.ADMIN}),
}
_GOVERNANCE_NAMESPACES = frozenset(a.split(".", 1)[0] for a in GOVERNANCE_PERMISSIONS)
_READ_VERBS = frozenset({"list", "show", "view", "card", "head", "proof", "verify", "export", "status", "report"})


def role_allows(role: Role | str, action: str) -> bool:
    """Whether ``role`` may perform ``action``.

    Examples
    --------
    >>> role_allows("analyst", "forecast.run"), role_allows("auditor", "forecast.run")
    (True, False)
    >>> role_allows("auditor", "audit.fairness"), role_allows("admin", "deployments.vote")
    (True, False)
    """
    r = Role(role)
    if action in GOVERNANCE_PERMISSIONS:
        return r in GOVERNANCE_PERMISSIONS[action]
    namespace = action.partition(".")[0]
    if namespace in _GOVERNANCE_NAMESPACES:
        return False  # an unknown governance action is never allowed
    verb = action.rsplit(".", 1)[-1]
    if r in _STAFF:
        return True
    if r in (Role.AUDITOR, Role.BOARD):
        return namespace == "audit" or verb in _READ_VERBS
    return False


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise InvalidParameterError(f"UsePolicy.{name}: got {value!r}; expected a list of non-empty strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class UsePolicy:
    """The use policy a deployment is approved with; services enforce it.

    Examples
    --------
    >>> p = UsePolicy(allowed_purposes=("patrol planning",), min_comment_days=30)
    >>> p.allows_purpose("patrol planning"), p.allows_role("auditor")
    (True, False)
    """

    allowed_purposes: tuple[str, ...] = ()
    allowed_roles: tuple[str, ...] = ("analyst", "supervisor")
    retention_days: Mapping[str, int] = field(default_factory=lambda: {"outputs": 365, "inputs": 365})
    sharing_allowlist: tuple[str, ...] = ()
    actionable_actions: tuple[str, ...] = ()
    two_person_rule: bool = False
    min_comment_days: int = 30
    approval_days: int = 365
    board_quorum: int = 3
    auto_suspend_severity: str = "high"
    #: the datasets and offences the deployment may be used on (empty: any). The model card's figures
    #: were measured on some data; a deployment approved on them must not serve other data unmeasured.
    #: ``deployments create`` fills them from the card's evaluation data when the policy names none.
    datasets: tuple[str, ...] = ()
    offenses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("allowed_purposes", "allowed_roles", "sharing_allowlist", "actionable_actions",
                     "datasets", "offenses"):
            value = getattr(self, name)
            object.__setattr__(self, name, _strings(name, list(value) if isinstance(value, tuple) else value)
                               if value else ())
        object.__setattr__(self, "allowed_roles", tuple(str(r) for r in self.allowed_roles))
        roles = {str(r) for r in Role}
        bad = [r for r in self.allowed_roles if r not in roles]
        if bad:
            raise InvalidParameterError(f"UsePolicy.allowed_roles: got {bad}; expected roles among {sorted(roles)}")
        if not isinstance(self.retention_days, Mapping) or not all(isinstance(k, str) for k in self.retention_days):
            raise InvalidParameterError(f"UsePolicy.retention_days: got {self.retention_days!r}; "
                                        "expected a table of data class -> days, e.g. {outputs = 365}")
        if not isinstance(self.two_person_rule, bool):
            raise InvalidParameterError(f"UsePolicy.two_person_rule: got {self.two_person_rule!r}; expected true or false")
        for name in ("min_comment_days", "approval_days", "board_quorum"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name != "min_comment_days" else 0):
                raise InvalidParameterError(f"UsePolicy.{name}: got {value!r}; expected a positive whole number")
        for k, v in dict(self.retention_days).items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidParameterError(f"UsePolicy.retention_days[{k!r}]: got {v!r}; expected days >= 0")
        if self.auto_suspend_severity not in SEVERITIES:
            raise InvalidParameterError(
                f"UsePolicy.auto_suspend_severity: got {self.auto_suspend_severity!r}; expected one of {SEVERITIES}"
            )

    def allows_purpose(self, purpose: str) -> bool:
        return purpose in self.allowed_purposes

    def allows_role(self, role: str) -> bool:
        return str(role) in self.allowed_roles

    def allows_sharing(self, recipient: str) -> bool:
        return recipient in self.sharing_allowlist

    def scope_problem(self, used_on: Mapping[str, Any]) -> str | None:
        """Why a use on ``used_on`` (``{"dataset": ..., "offense": ...}``; ``None`` for all offences)
        is outside the policy's datasets and offences, or None. A key the use does not name is
        not checked.

        >>> p = UsePolicy(allowed_purposes=("p",), datasets=("synth",), offenses=("burglary",))
        >>> p.scope_problem({"dataset": "synth", "offense": "burglary"}) is None
        True
        >>> p.scope_problem({"dataset": "synth", "offense": "drugs"})
        "offense 'drugs' is outside the use policy's offenses ['burglary']"
        >>> p.scope_problem({"dataset": "synth", "offense": None})
        "every offense is outside the use policy's offenses ['burglary']"
        """
        for key, allowed in (("dataset", self.datasets), ("offense", self.offenses)):
            if not allowed or key not in used_on:
                continue
            value = used_on[key]
            if value is None:
                return f"every {key} is outside the use policy's {key}s {list(allowed)}"
            if str(value) not in allowed:
                return f"{key} {str(value)!r} is outside the use policy's {key}s {list(allowed)}"
        return None

    def is_actionable(self, action: str) -> bool:
        return "*" in self.actionable_actions or action in self.actionable_actions

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retention_days"] = dict(self.retention_days)
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> UsePolicy:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"use policy: got unknown keys {unknown}; expected some of {sorted(known)}")
        clean: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**clean)

    @classmethod
    def from_toml(cls, path: Path) -> UsePolicy:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"use policy {str(path)!r}: cannot read: {exc}") from exc
        return cls.from_mapping(data.get("policy", data))


#: The shortest public comment period (days) a deployment or a renewal may have, whatever its use
#: policy says: whoever proposes a deployment writes its policy, so the policy can lengthen the
#: period, never shorten it below this.
MIN_COMMENT_DAYS_FLOOR = 14
#: The environment variable that lowers the floors for a demonstration (``make demo``, tests): a comment
#: period of the policy's own length (0 allowed) and a quorum of the policy's own size. Every entry of
#: a step it eased says so (``detail["floors"]["demo"]``).
DEMO_SETTING = "CRIMELENS_GOVERNANCE_DEMO"


def board_quorum_floor(board_members: int) -> int:
    """The smallest quorum a board review may have: a majority of the active board members.

    >>> board_quorum_floor(3), board_quorum_floor(4), board_quorum_floor(0)
    (2, 3, 1)
    """
    return max(1, board_members // 2 + 1)


#: Incident severities, least to most severe.
SEVERITIES = ("low", "medium", "high", "critical")
