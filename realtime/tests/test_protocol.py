import pytest

from realtime import protocol
from realtime.protocol import ClientError, Ping, Subscribe, Unsubscribe

VALID = [
    ('{"type": "ping"}', Ping(extra={})),
    ('{"type": "ping", "n": 7, "note": "x"}', Ping(extra={"n": 7, "note": "x"})),
    (
        '{"type": "subscribe", "events": ["tasks", "daily_works"]}',
        Subscribe(events=("tasks", "daily_works"), last_event_id=None),
    ),
    (
        '{"type": "subscribe", "events": ["tasks", "tasks"], "last_event_id": 17}',
        Subscribe(events=("tasks",), last_event_id=17),
    ),
    (
        '{"type": "subscribe", "events": ["monthly_tasks"], "last_event_id": null}',
        Subscribe(events=("monthly_tasks",), last_event_id=None),
    ),
    ('{"type": "unsubscribe", "events": ["tasks"]}', Unsubscribe(events=("tasks",))),
]

INVALID = [
    ("{not json", protocol.INVALID_JSON),
    ("", protocol.INVALID_JSON),
    ("[1, 2]", protocol.INVALID_MESSAGE),
    ('"subscribe"', protocol.INVALID_MESSAGE),
    ("{}", protocol.UNKNOWN_TYPE),
    ('{"type": "dance"}', protocol.UNKNOWN_TYPE),
    ('{"type": 5}', protocol.UNKNOWN_TYPE),
    ('{"type": "subscribe"}', protocol.INVALID_MESSAGE),
    ('{"type": "subscribe", "events": "tasks"}', protocol.INVALID_MESSAGE),
    ('{"type": "subscribe", "events": [1]}', protocol.INVALID_MESSAGE),
    ('{"type": "subscribe", "events": ["users"]}', protocol.UNKNOWN_EVENT),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": "7"}', protocol.INVALID_MESSAGE),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": -1}', protocol.INVALID_MESSAGE),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": 1.5}', protocol.INVALID_MESSAGE),
    ('{"type": "subscribe", "events": ["tasks"], "last_event_id": true}', protocol.INVALID_MESSAGE),
    ('{"type": "unsubscribe", "events": ["nope"]}', protocol.UNKNOWN_EVENT),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_messages_parse(text, expected):
    assert protocol.parse(text) == expected


@pytest.mark.parametrize(("text", "code"), INVALID)
def test_invalid_messages_raise_a_client_error_with_its_code(text, code):
    with pytest.raises(ClientError) as error:
        protocol.parse(text)

    assert error.value.code == code
    assert error.value.message


@pytest.mark.parametrize("stream", protocol.STREAMS)
def test_group_names_are_valid_channels_group_names(stream):
    group = protocol.group_for(stream)

    assert group == f"events.{stream}"
    assert len(group) < 100
    assert all(c.isalnum() or c in "-_." for c in group)


def test_an_unknown_stream_has_no_group():
    with pytest.raises(ValueError):
        protocol.group_for("users")


@pytest.mark.parametrize(
    ("stream", "action", "expected"),
    [
        ("tasks", "created", "task_created"),
        ("daily_works", "updated", "daily_work_updated"),
        ("monthly_tasks", "deleted", "monthly_task_deleted"),
    ],
)
def test_event_types_name_the_entity_and_what_happened(stream, action, expected):
    assert protocol.event_type(stream, action) == expected


@pytest.mark.parametrize(
    "text", ["[" * 60000, '{"a":' * 30000, '{"type": "ping", "x": ' + "[" * 50000]
)
def test_nesting_deeper_than_the_parser_can_go_is_invalid_json(text):
    with pytest.raises(ClientError) as raised:
        protocol.parse(text)
    assert raised.value.code == protocol.INVALID_JSON
