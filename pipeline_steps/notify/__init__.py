"""E-mail to the person who approves a staged release before it goes public."""

from __future__ import annotations

from pipeline_steps.notify.approval_message import RUN_ID_HEADER, ApprovalRequest, approval_link, build_message
from pipeline_steps.notify.mail_settings import MailSettings, Security
from pipeline_steps.notify.smtp import read_password, send_mail, send_mail_async

__all__ = [
    "RUN_ID_HEADER",
    "ApprovalRequest",
    "MailSettings",
    "Security",
    "approval_link",
    "build_message",
    "read_password",
    "send_mail",
    "send_mail_async",
]
