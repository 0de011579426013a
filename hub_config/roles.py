"""JupyterHub RBAC for xuefa: who may reach what.

* learners (group ``role-learner``): the default ``user`` role only, i.e. their own server and
  their own hub model; nothing of other people (403 on other servers and on the user list);
* trainers (``role-trainer``): also the grading tools (the ``grading`` service, and the
  ``formgrader-<course>`` of each course whose ``course.yaml`` lists them, through the per-course
  roles of :mod:`hub_config.formgrader_service`; the 阅卷 hub page checks the same list),
  the ``dashboards`` service's 题目分析 page only (the service's role admits them; its identity
  provider refuses them every other page and every course they do not teach) and read access
  to people and groups, to see who is enrolled;
* admins (``role-admin``): the admin panel (start/stop servers, manage users and groups) and every
  hub service (dashboards, grading, records) -- but not learners' servers themselves.

Single-user servers' tokens also carry ``access:services!service=records`` so learners' kernels
(widgets) can send learning events as that learner.
"""

from __future__ import annotations

LEARNER_GROUP = "role-learner"
TRAINER_GROUP = "role-trainer"
ADMIN_GROUP = "role-admin"

ADMIN_SCOPES = [
    "admin-ui",
    "list:users",
    "admin:users",
    "admin:servers",
    "admin:groups",
    "read:roles",
    "read:services",
    "access:services",
]
TRAINER_SCOPES = ["list:users", "read:users", "list:groups", "read:groups"]
CLI_SCOPES = ["admin:users", "admin:groups", "admin:servers", "list:services", "read:services",
              "read:hub"]


def load_roles(services: list[str]) -> list[dict]:
    """``c.JupyterHub.load_roles``; ``services`` are the names of registered services (a role may
    only name services that exist)."""
    trainer_scopes = list(TRAINER_SCOPES)
    if "grading" in services:
        trainer_scopes.append("access:services!service=grading")
    user_scopes = ["self"] + [f"access:services!service={name}" for name in ("records",)
                              if name in services]
    roles = [
        {"name": "user", "description": "每个人：自己的学习空间", "scopes": user_scopes},
        {"name": "xuefa-admin", "description": "管理员：管理面板与全部服务（仪表盘等）",
         "scopes": ADMIN_SCOPES, "groups": [ADMIN_GROUP]},
        {"name": "xuefa-trainer", "description": "讲师：阅卷工具与学员名单",
         "scopes": trainer_scopes, "groups": [TRAINER_GROUP]},
    ]
    if "xuefa-cli" in services:
        roles.append({"name": "xuefa-cli", "description": "xuefa command line (roster sync)",
                      "scopes": CLI_SCOPES, "services": ["xuefa-cli"]})
    return roles


def server_token_scopes(services: list[str]) -> list[str]:
    """Scopes of a single-user server's own token (inherited by the learner's kernels)."""
    # the stock `server` role's scopes plus the records API; never "inherit": kernels run
    # whatever code is in a notebook and must not hold all of the owner's rights
    scopes = ["users:activity!user", "access:servers!server"]
    if "records" in services:
        scopes.append("access:services!service=records")
    return scopes
