"""A live line score of one game, kept by following the event topics of MLB-STS.

A subscriber written as your own program would be (docs/subscribing.md): it needs only
confluent-kafka, fastavro and the schema files of ``schemas/`` (the contract), nothing
else of MLB-STS::

    python examples/live_box_score.py --game 747175                # follow; Ctrl-C stops
    python examples/live_box_score.py --game 747175 --until-final  # stop once it is over

It reads the game's pitch, play, runner and game events from the start of the topics and
prints a line each time the score changes: runs, hits and errors per team and the pitches
each team's pitchers threw. At the end it prints the line score by inning and, as its last
line, the same as one JSON object (for scripts).

What a subscriber must do, shown here:

- decode Avro in either framing: ``C3 01`` + the writer schema's 8-byte CRC-64-AVRO
  fingerprint (single-object encoding, no registry needed) or ``00`` + a 4-byte schema
  id (Confluent wire format, with a Schema Registry: ``--schema-registry URL``);
- keep the newest version of each event: versions are ordered by ``(source_ts,
  revision)``; a repeat (at-least-once delivery) is an exact duplicate, and an older
  version arriving late is ignored;
- apply retractions: a ``Retraction`` removes its ``event_id`` until a newer version of
  it comes back;
- count as MLB does: runs and hits to the batting team of the half inning, errors to the
  fielding team, once per fielder and play event, pitches to the fielding team.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

EVENT_TOPICS = ("mlb.events.pitch", "mlb.events.play", "mlb.events.runner", "mlb.events.game")
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
HITS = {"single", "double", "triple", "home_run"}
QUIET_S = 2.0  # with --until-final: nothing new for this long at the end of every partition

Event = dict[str, Any]


class EventDecoder:
    """Values of the event topics -> (kind, event); kind ``pitch``/``play``/``runner``/``game``."""

    def __init__(self, schemas: Path, registry_url: str | None = None) -> None:
        self.readers: dict[str, Any] = {}
        self.writers: dict[bytes, tuple[str, Any]] = {}  # fingerprint -> (kind, writer)
        paths = [*schemas.glob("events_*.avsc"), *schemas.glob("released/events_*.v*.avsc")]
        for path in sorted(paths, key=lambda p: p.parent != schemas):  # current schemas first
            kind = path.name.split(".")[0].removeprefix("events_")
            schema = json.loads(path.read_text())
            canonical = fastavro.schema.to_parsing_canonical_form(schema)
            fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
            self.readers.setdefault(kind, fastavro.parse_schema(schema))
            self.writers[fingerprint] = (kind, fastavro.parse_schema(schema))
        self.by_id: dict[int, tuple[str, Any]] = {}
        self.registry: Any = None
        if registry_url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self.registry = SchemaRegistryClient({"url": registry_url})

    def decode(self, value: bytes) -> tuple[str, Event]:
        if value[:2] == b"\xc3\x01":
            kind, writer = self.writers[value[2:10]]  # KeyError: not an event schema
            body = value[10:]
        elif value[:1] == b"\x00" and self.registry is not None:
            kind, writer = self._by_id(struct.unpack(">I", value[1:5])[0])
            body = value[5:]
        else:
            raise ValueError(f"unknown framing {value[:2]!r}")
        record = fastavro.schemaless_reader(io.BytesIO(body), writer, self.readers[kind])
        if not isinstance(record, dict):
            raise ValueError("not an event topic value")
        return kind, record["event"]

    def _by_id(self, schema_id: int) -> tuple[str, Any]:
        if schema_id not in self.by_id:
            schema = json.loads(self.registry.get_schema(schema_id).schema_str)
            kind = schema["name"].removesuffix("TopicValue").lower()  # PitchTopicValue -> pitch
            self.by_id[schema_id] = (kind, fastavro.parse_schema(schema))
        return self.by_id[schema_id]


class LineScore:
    """The newest version of each event of one game, and the line score they make."""

    def __init__(self, game_pk: int) -> None:
        self.game_pk = game_pk
        self.versions: dict[str, tuple[str, int]] = {}  # event_id -> (source_ts, revision)
        self.live: dict[str, tuple[str, Event]] = {}  # event_id -> (kind, event), not retracted
        self.state = "-"  # until the game status event is seen
        self.final = False

    def apply(self, kind: str, event: Event) -> bool:
        """Fold one event; False when it is a repeat or older than what is known."""
        event_id, version = event["event_id"], (event["source_ts"], event["revision"])
        known = self.versions.get(event_id)
        if known is not None and version <= known:
            return False
        self.versions[event_id] = version
        if "retracted_kind" in event:  # a Retraction
            self.live.pop(event_id, None)
        else:
            self.live[event_id] = (kind, event)
            if kind == "game" and event["action"] == "status":
                self.state = event["detailedState"] or self.state
                self.final = event["abstractGameState"] == "Final"
        return True

    def summary(self) -> dict[str, Any]:
        """Runs, hits and errors per inning and team (``runs`` once the team has batted in
        the inning, as in MLB's line score); totals with pitches thrown."""
        innings: dict[int, dict[str, dict[str, int]]] = {}
        pitches = {"away": 0, "home": 0}
        charged: set[tuple[int, int, int]] = set()

        def line(event: Event, fielding: bool = False) -> dict[str, int]:
            batting, other = ("away", "home") if event["halfInning"] == "top" else ("home", "away")
            empty = {"away": {"hits": 0, "errors": 0}, "home": {"hits": 0, "errors": 0}}
            return innings.setdefault(event["inning"], empty)[other if fielding else batting]

        for kind, event in self.live.values():
            if kind == "game":
                continue
            line(event).setdefault("runs", 0)  # this team batted in this inning
            if kind == "pitch" and event["isPitch"]:
                pitches["home" if event["halfInning"] == "top" else "away"] += 1
            elif kind == "play" and event["eventType"] in HITS:
                line(event)["hits"] += 1
            elif kind == "runner":
                if event["endBase"] == "score":
                    line(event)["runs"] += 1
                for fielder in event["errorFielderIds"]:
                    if (event["atBatIndex"], event["playEventIndex"], fielder) not in charged:
                        charged.add((event["atBatIndex"], event["playEventIndex"], fielder))
                        line(event, fielding=True)["errors"] += 1
        out: dict[str, Any] = {"gamePk": self.game_pk, "state": self.state}
        out["innings"] = [{"num": num, **innings[num]} for num in sorted(innings)]
        for side in ("away", "home"):
            lines = [inning[side] for inning in out["innings"]]
            total = {f: sum(line.get(f, 0) for line in lines) for f in ("runs", "hits", "errors")}
            out[side] = {**total, "pitches": pitches[side]}
        return out


def score_line(score: dict[str, Any]) -> str:
    def team(side: str) -> str:
        t = score[side]
        return f"{side} R {t['runs']:>2} H {t['hits']:>2} E {t['errors']} ({t['pitches']} pitches)"

    return f"{score['gamePk']}  {score['state']:<12}  {team('away')} | {team('home')}"


def inning_table(score: dict[str, Any]) -> str:
    nums = [i["num"] for i in score["innings"]]
    rows = ["      " + "".join(f"{n:>3}" for n in nums) + "    R  H  E"]
    for side in ("away", "home"):
        runs = "".join(f"{i[side].get('runs', '-'):>3}" for i in score["innings"])
        t = score[side]
        rows.append(f"{side:<6}{runs}   {t['runs']:>2} {t['hits']:>2} {t['errors']:>2}")
    return "\n".join(rows)


def follow(
    consumer: Consumer,
    decoder: EventDecoder,
    score: LineScore,
    until_final: bool,
    deadline: float,
    partitions: int,
) -> bool:
    """Fold the game's records until Ctrl-C, the deadline, or (``until_final``) the end of
    a Final game; True unless the deadline came first while waiting for the end."""
    key = str(score.game_pk).encode()
    at_end: set[tuple[str, int]] = set()
    last_record = time.monotonic()
    while time.monotonic() < deadline:
        changed = False
        for msg in consumer.consume(500, timeout=0.5):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(err)
                at_end.add((msg.topic(), msg.partition()))
                continue
            at_end.discard((msg.topic(), msg.partition()))
            last_record = time.monotonic()
            if msg.key() != key or msg.value() is None:
                continue
            try:
                kind, event = decoder.decode(msg.value())
            except (KeyError, ValueError, IndexError, EOFError) as e:  # bad data: say so, go on
                print(f"{msg.topic()}@{msg.offset()}: undecodable: {e!r}", file=sys.stderr)
                continue
            changed = score.apply(kind, event) or changed
        if changed:
            print(score_line(score.summary()), flush=True)
        quiet = time.monotonic() - last_record >= QUIET_S
        if until_final and score.final and len(at_end) == partitions and quiet:
            return True
    return not until_final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--game", type=int, required=True, help="the gamePk to follow")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("MLBSTS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
    )
    parser.add_argument("--schema-registry", default=os.environ.get("MLBSTS_SCHEMA_REGISTRY_URL"))
    parser.add_argument("--schemas", type=Path, default=SCHEMAS, help="the .avsc files")
    parser.add_argument("--topic", action="append", help="event topics (default: all four)")
    parser.add_argument("--until-final", action="store_true", help="stop once the game is over")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args(argv)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": f"live-box-score-{os.getpid()}",  # assign() below: no group is joined
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    score = LineScore(args.game)
    ok = True
    try:
        meta = consumer.list_topics(timeout=10)  # raises KafkaException if unreachable
        names = args.topic or list(EVENT_TOPICS)
        if missing := [name for name in names if name not in meta.topics]:
            parser.error(f"no such topic on {args.bootstrap_servers}: {', '.join(missing)}")
        assignment = [
            TopicPartition(name, p, OFFSET_BEGINNING)
            for name in names
            for p in sorted(meta.topics[name].partitions)
        ]
        consumer.assign(assignment)
        print(f"following game {args.game} on {len(assignment)} partitions", file=sys.stderr)
        deadline = time.monotonic() + (args.max_seconds or float("inf"))
        decoder = EventDecoder(args.schemas, args.schema_registry)
        ok = follow(consumer, decoder, score, args.until_final, deadline, len(assignment))
    except KafkaException as e:  # brokers unreachable, or a fatal consumer error
        print(f"error: Kafka at {args.bootstrap_servers}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    summary = score.summary()
    print(inning_table(summary))
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
