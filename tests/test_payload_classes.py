"""One list of payload classes (oddping/payload_classes.py): the producer's classifier emits
exactly those names and the detection table describes exactly those, nothing more or less."""

from __future__ import annotations

from oddping.payload_classes import NOT_ECHO, PAYLOAD_CLASSES
from processors import payloads
from producer.record import payload_signatures


def test_the_classifier_emits_exactly_the_listed_classes() -> None:
    emitted = set(payload_signatures.PAYLOAD_CLASSES) | {payload_signatures.NOT_ECHO}
    assert emitted == set(PAYLOAD_CLASSES)
    assert payload_signatures.NOT_ECHO == NOT_ECHO


def test_the_detection_table_describes_exactly_the_listed_classes() -> None:
    assert set(payloads.PAYLOAD_CLASSES) == set(PAYLOAD_CLASSES)


def test_every_class_says_what_its_data_looks_like() -> None:
    assert all(description.strip() for description in PAYLOAD_CLASSES.values())
