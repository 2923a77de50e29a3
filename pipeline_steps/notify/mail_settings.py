"""The `confirm.mail` section of pipeline.yaml: where and how the approval e-mail is sent.

Its model is `pipeline_steps.config.mail`, part of the one model of pipeline.yaml; the names stay here for
the code that sends mail.
"""

from __future__ import annotations

from pipeline_steps.config.mail import DEFAULT_PORTS, SECTION, MailSettings, Security

__all__ = ["DEFAULT_PORTS", "SECTION", "MailSettings", "Security"]
