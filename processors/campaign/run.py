"""Both stages in process (``oddping scan``): host alerts' final versions -> campaigns."""

from __future__ import annotations

from typing import Iterable

from oddping.config import CampaignSettings
from processors.alerts import Alert
from processors.campaign.fingerprint import update_of
from processors.campaign.stage import CampaignStage


def campaigns(alerts: Iterable[Alert], settings: CampaignSettings | None = None) -> list[Alert]:
    """The closed campaign alerts of host alerts' final versions (annotated by the engine)."""
    settings = settings or CampaignSettings()
    stage = CampaignStage(settings)
    for alert in alerts:
        update = update_of(alert.doc, settings)
        if update is not None:
            stage.add(*update)
    return [Alert(doc) for doc in stage.flush()]
