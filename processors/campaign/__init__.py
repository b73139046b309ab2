"""The campaign stage: one odd behaviour on many hosts becomes one finding (ARCHITECTURE.md 10).

fingerprint.py  which host alerts are one behaviour (``behaviour_id``) and the behaviour's
                host-independent fingerprint
stage.py        the second stage, keyed by fingerprint: behaviours of many hosts -> one
                versioned campaign alert (schemas/campaign.schema.json)
known.py        fingerprints of benign fleet software, each with its public source
run.py          both stages in process (``oddping scan``)
suppression.py  a campaign -> the [[suppressions]] entries that silence it (``oddping suppress``)

The stream's side is processors/stream/campaigns.py.
"""
