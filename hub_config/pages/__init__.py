"""The platform's own hub pages (Simplified Chinese), under ``/hub/xuefa/``.

One module per page family; :data:`HANDLERS` is what the authenticator's ``get_handlers``
adds to the hub. Each page checks who may see it server-side (``XuefaPage.require_admin`` and
friends) and every form carries the hub's XSRF token.
"""

from hub_config.pages.accounts import AccountsHandler, AuditHandler, PasswordHandler

HANDLERS = [
    (r"/xuefa/accounts", AccountsHandler),
    (r"/xuefa/audit", AuditHandler),
    (r"/xuefa/password", PasswordHandler),
]
