"""The worker's cached partitioner places every key where aiokafka's default one does."""

from aiokafka.partitioner import DefaultPartitioner

from processors.stream.sends import cached_partitioner


def test_cached_partitioner_places_keys_as_the_default_partitioner() -> None:
    default = DefaultPartitioner()
    keys = [f"10.{i // 256}.{i % 256}.7".encode() for i in range(2000)] + [b"", b"fe80::1"]
    for partitions in ([0], [0, 1, 2, 3], list(range(7))):
        for key in keys * 2:  # the second pass answers from the cache
            assert cached_partitioner(key, partitions, partitions) == default(
                key, partitions, partitions)


def test_a_key_less_message_goes_to_an_available_partition() -> None:
    assert cached_partitioner(None, [0, 1, 2, 3], [2]) == 2
    assert cached_partitioner(None, [0, 1], []) in (0, 1)
