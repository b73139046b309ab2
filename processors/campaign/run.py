"""Both stages in process (``oddping scan``): host alerts -> behaviours -> campaigns."""

from __future__ import annotations

from typing import Iterable

from oddping.config import CampaignSettings
from processors.alerts import Alert
from processors.campaign.fingerprint import behaviours
from processors.campaign.stage import CampaignStage


def campaigns(alerts: Iterable[Alert], settings: CampaignSettings | None = None) -> list[Alert]:
    """The closed campaign alerts of host alerts' final versions.  Sets ``behaviour_id`` on
    every host alert of a behaviour, and ``campaign_id`` on those of a campaign's hosts."""
    settings = settings or CampaignSettings()
    docs = [alert.doc for alert in alerts]
    stage = CampaignStage(settings)
    for behaviour in behaviours(docs, settings.dst_prefix_v4, settings.dst_prefix_v6):
        stage.add(behaviour)
    found = [Alert(doc) for doc in stage.flush()]
    member = dict(stage.membership())
    for doc in docs:
        cid = member.get(doc.get("behaviour_id"))
        if cid is not None:
            doc["campaign_id"] = cid
    return found
