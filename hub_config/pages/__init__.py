"""The platform's own hub pages (Simplified Chinese), under ``/hub/xuefa/``.

One module per page family; :data:`HANDLERS` is what the authenticator's ``get_handlers``
adds to the hub. Each page checks who may see it server-side (``XuefaPage.require_admin`` and
friends) and every form carries the hub's XSRF token.
"""

from hub_config.pages.accounts import AccountsHandler, AuditHandler, PasswordHandler
from hub_config.pages.authoring import HANDLERS as AUTHORING_HANDLERS
from hub_config.pages.campaigns import CampaignsHandler
from hub_config.pages.certificates import CertificateHandler, CertificatesArchiveHandler, VerifyHandler
from hub_config.pages.essays import EssayCourseHandler, EssayGradeHandler, EssaysHandler
from hub_config.pages.law_review import ReviewHandler
from hub_config.pages.notices import CurrentNoticesHandler, NoticesHandler
from hub_config.pages.reminders import RemindersHandler
from hub_config.pages.roster import RosterHandler, RosterPasswordsHandler

HANDLERS = [
    (r"/xuefa/accounts", AccountsHandler),
    (r"/xuefa/audit", AuditHandler),
    (r"/xuefa/password", PasswordHandler),
    # certificates (public verification without login), reminders
    (r"/xuefa/certificate", CertificateHandler),
    (r"/xuefa/certificates", CertificatesArchiveHandler),
    (r"/xuefa/verify/([^/]*)", VerifyHandler),
    (r"/xuefa/reminders", RemindersHandler),
    (r"/xuefa/review", ReviewHandler),  # 述法评议
    # 阅卷 (issue 15): essays graded by the course's trainers
    (r"/xuefa/essays", EssaysHandler),
    (r"/xuefa/essays/([^/]+)", EssayCourseHandler),
    (r"/xuefa/essays/([^/]+)/([^/]+)", EssayGradeHandler),
    # roster upload, campaigns (导学), notices
    (r"/xuefa/roster", RosterHandler),
    (r"/xuefa/roster/passwords/([A-Za-z0-9_-]{32})", RosterPasswordsHandler),
    (r"/xuefa/campaigns", CampaignsHandler),
    (r"/xuefa/notices", NoticesHandler),
    (r"/xuefa/notices/current", CurrentNoticesHandler),
    # 课程编写 (issue 15): trainers' course workspace
    *AUTHORING_HANDLERS,
]
