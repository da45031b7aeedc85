"""The local event source mapping behaves as Lambda's: checkpoints, partial failures, resharding."""

from __future__ import annotations

from dataclasses import dataclass, field

from auxeira.runtime.checkpoints import Checkpoint, Checkpoints
from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.mapping_runner import LocalEventSourceMapping
from auxeira.runtime.shard_sources import ReadResult, Shard


class MemoryCheckpoints(Checkpoints):
    def __init__(self):
        super().__init__(client=None, table_name="mem")
        self.rows: dict[tuple[str, str], Checkpoint] = {}

    def get(self, consumer, shard_id):
        return self.rows.get((consumer, shard_id))

    def all(self, consumer):
        return {s: cp for (c, s), cp in self.rows.items() if c == consumer}

    def save(self, consumer, shard_id, sequence_number, *, finished=False):
        self.rows[(consumer, shard_id)] = Checkpoint(consumer, shard_id, sequence_number, finished)


@dataclass
class FakeSource:
    """Shards as lists of sequence numbers; ``closed`` shards end (iterator None) after their last record."""

    records: dict[str, list[int]]
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    arn: str = "arn:fake"
    event_source: str = "aws:kinesis"

    def shards(self):
        return [Shard(s, self.parents.get(s, ())) for s in self.records]

    def iterator(self, shard_id, after):
        seqs = self.records[shard_id]
        start = 0 if after is None else next(i for i, s in enumerate(seqs) if s == int(after)) + 1
        return f"{shard_id}@{start}"

    def read(self, shard_id, iterator, limit):
        position = int(iterator.split("@")[1])
        seqs = self.records[shard_id][position:position + limit]
        end = position + len(seqs)
        done = shard_id in self.closed and end >= len(self.records[shard_id]) and not seqs
        records = [{"kinesis": {"sequenceNumber": str(s), "data": ""}, "eventID": f"{shard_id}:{s}"} for s in seqs]
        return ReadResult(records, None if done else f"{shard_id}@{end}")


class Recorder:
    """A handler that records deliveries and fails the sequence numbers it is told to."""

    def __init__(self, fail: dict[int, int] | None = None, raise_times: int = 0):
        self.fail = dict(fail or {})  # sequence -> how many more deliveries fail
        self.raise_times = raise_times
        self.deliveries: list[list[int]] = []

    def __call__(self, event, context):
        seqs = [int(r["kinesis"]["sequenceNumber"]) for r in event["Records"]]
        self.deliveries.append(seqs)
        if self.raise_times:
            self.raise_times -= 1
            raise RuntimeError("handler crashed")
        failed = []
        for s in seqs:
            if self.fail.get(s, 0) > 0:
                self.fail[s] -= 1
                failed.append({"itemIdentifier": str(s)})
        return {"batchItemFailures": failed}


def _mapping(source, handler, tmp_path, checkpoints=None, **kw):
    return LocalEventSourceMapping(source=source, handler=handler, checkpoints=checkpoints or MemoryCheckpoints(),
                                   consumer="c", dead_letters=LocalDeadLetters(tmp_path), **kw)


def _drain(mapping, passes=10):
    for _ in range(passes):
        mapping.poll()


def test_partial_failure_redelivers_from_the_lowest_failed_sequence(tmp_path):
    # GIVEN records 1..5 where 3 fails once
    handler = Recorder(fail={3: 1})
    checkpoints = MemoryCheckpoints()
    mapping = _mapping(FakeSource({"s0": [1, 2, 3, 4, 5]}), handler, tmp_path, checkpoints)
    # WHEN polled until quiet
    _drain(mapping)
    # THEN 1..2 were checkpointed, 3..5 delivered again, and the checkpoint reached 5
    assert handler.deliveries[:2] == [[1, 2, 3, 4, 5], [3, 4, 5]]
    assert checkpoints.get("c", "s0").sequence_number == "5"


def test_a_raising_handler_gets_the_whole_batch_again(tmp_path):
    handler = Recorder(raise_times=2)
    checkpoints = MemoryCheckpoints()
    _drain(_mapping(FakeSource({"s0": [1, 2]}), handler, tmp_path, checkpoints))
    assert handler.deliveries[:3] == [[1, 2], [1, 2], [1, 2]]
    assert checkpoints.get("c", "s0").sequence_number == "2"


def test_a_record_that_keeps_failing_is_dead_lettered_with_its_payload_and_the_shard_moves_on(tmp_path):
    handler = Recorder(fail={2: 100})
    mapping = _mapping(FakeSource({"s0": [1, 2, 3]}), handler, tmp_path, max_attempts=3)
    _drain(mapping)
    [letter] = list(LocalDeadLetters(tmp_path).list("c"))
    assert (letter.sequence_number, letter.error_type, letter.attempts) == ("2", "RetriesExhausted", 3)
    assert letter.record["kinesis"]["sequenceNumber"] == "2"
    # 3 was delivered after 2 was moved aside
    assert handler.deliveries[-1] == [3]


def test_children_start_only_after_their_parents_are_read_to_the_end(tmp_path):
    # GIVEN a closed parent with records and a child shard with later records
    source = FakeSource({"parent": [1, 2], "child": [10, 11]}, parents={"child": ("parent",)}, closed={"parent"})
    handler = Recorder()
    checkpoints = MemoryCheckpoints()
    _drain(_mapping(source, handler, tmp_path, checkpoints, batch_size=1))
    order = [s for batch in handler.deliveries for s in batch]
    assert order == [1, 2, 10, 11]
    assert checkpoints.get("c", "parent").finished


def test_a_restarted_mapping_resumes_from_its_checkpoints(tmp_path):
    source = FakeSource({"s0": [1, 2, 3]})
    checkpoints = MemoryCheckpoints()
    _drain(_mapping(source, Recorder(), tmp_path, checkpoints))
    source.records["s0"] += [4, 5]
    handler = Recorder()
    _drain(_mapping(source, handler, tmp_path, checkpoints))
    assert handler.deliveries == [[4, 5]]
