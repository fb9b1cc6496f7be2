import pytest

from realtime import protocol
from realtime.protocol import (
    ClientError,
    Lag,
    LagSample,
    Ping,
    Presence,
    Subscribe,
    Unsubscribe,
)

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
    ('{"type": "ping", "clock": true}', Ping(extra={"clock": True}, clock=True)),
    ('{"type": "ping", "clock": false, "sent": 5}', Ping(extra={"clock": False, "sent": 5})),
    (
        '{"type": "lag", "samples": [{"id": 18, "seconds": 0.042}]}',
        Lag(samples=(LagSample(event_id=18, seconds=0.042),)),
    ),
    (
        '{"type": "lag", "samples": [{"id": 1, "seconds": 0}, {"seconds": 600, "id": 2}]}',
        Lag(samples=(LagSample(1, 0.0), LagSample(2, 600.0))),
    ),
    (
        '{"type": "lag", "samples": [' + ", ".join(['{"id": 7, "seconds": 0.1}'] * 100) + "]}",
        Lag(samples=(LagSample(7, 0.1),) * 100),
    ),
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
    ('{"type": "ping", "clock": "yes"}', protocol.INVALID_MESSAGE),
    ('{"type": "lag"}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": 0.1}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": []}', protocol.INVALID_MESSAGE),
    (
        '{"type": "lag", "samples": [' + ", ".join(['{"id": 7, "seconds": 0.1}'] * 101) + "]}",
        protocol.INVALID_MESSAGE,
    ),
    # A bare lag names no event: nothing says the socket was sent what it measured.
    ('{"type": "lag", "samples": [0.1]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"seconds": 0.1}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 0, "seconds": 0.1}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": "7", "seconds": 0.1}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": true, "seconds": 0.1}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": 0.1, "x": 1}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": -0.001}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": 600.5}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": "0.1"}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": true}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": null}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": NaN}]}', protocol.INVALID_MESSAGE),
    ('{"type": "lag", "samples": [{"id": 7, "seconds": Infinity}]}', protocol.INVALID_MESSAGE),
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


LAG_LIST = '"samples" must be a list of 1 to 100 {"id", "seconds"} objects.'
LAG_SAMPLE = 'Each of "samples" must be {"id": an event id, "seconds": a number from 0 to 600}.'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"type": "lag", "samples": []}', LAG_LIST),
        ('{"type": "lag", "samples": "x"}', LAG_LIST),
        ('{"type": "lag", "samples": [{"id": 1, "seconds": 0.1}, 601]}', LAG_SAMPLE),
        ('{"type": "lag", "samples": [{"id": 1, "seconds": 601}]}', LAG_SAMPLE),
        ('{"type": "ping", "clock": 1}', '"clock" must be true or false.'),
    ],
)
def test_a_malformed_message_is_told_what_is_wrong(text, named):
    with pytest.raises(ClientError) as error:
        protocol.parse(text)

    assert error.value.message == named


def test_a_pong_echoes_the_ping_and_tells_the_time_only_when_asked(monkeypatch):
    monkeypatch.setattr(protocol.time, "time", lambda: 1_800_000_000.25)

    assert protocol.pong_frame(protocol.parse('{"type": "ping", "n": 1}')) == {
        "type": "pong",
        "n": 1,
    }
    assert protocol.pong_frame(protocol.parse('{"type": "ping", "clock": true, "sent": 7}')) == {
        "type": "pong",
        "clock": True,
        "sent": 7,
        "server_time": 1_800_000_000_250.0,
    }


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


PRESENCE_VALID = [
    ('{"type": "presence", "page": "schedule"}', Presence(page="schedule")),
    ('{"type": "presence", "page": null}', Presence(page=None)),
    ('{"type": "presence"}', Presence(page=None)),
    (
        '{"type": "presence", "page": "progress", "idle": true, "editing": null}',
        Presence(page="progress", idle=True),
    ),
    ('{"type": "presence", "page": "msg:2026-03"}', Presence(page="msg:2026-03")),
    ('{"type": "presence", "page": "daily:2024-02-29"}', Presence(page="daily:2024-02-29")),
    (
        '{"type": "presence", "page": "admin:schedule.task:12"}',
        Presence(page="admin:schedule.task:12"),
    ),
    (
        '{"type": "presence", "page": "admin:daily.dailywork:add"}',
        Presence(page="admin:daily.dailywork:add"),
    ),
    (
        '{"type": "presence", "page": "schedule", "editing": {"stream": "tasks", "id": 12}}',
        Presence(page="schedule", editing={"stream": "tasks", "id": 12}),
    ),
    (
        '{"type": "presence", "page": "msg:2026-03", '
        '"editing": {"stream": "daily_works", "task": 12, "date": "2026-03-05"}}',
        Presence(
            page="msg:2026-03", editing={"stream": "daily_works", "task": 12, "date": "2026-03-05"}
        ),
    ),
]

PRESENCE_INVALID = [
    '{"type": "presence", "page": 5}',
    '{"type": "presence", "page": ""}',
    '{"type": "presence", "page": "tasks"}',
    '{"type": "presence", "page": "schedule:1"}',
    '{"type": "presence", "page": "msg:2026-13"}',
    '{"type": "presence", "page": "msg:2026-3"}',
    '{"type": "presence", "page": "daily:2026-02-30"}',
    '{"type": "presence", "page": "daily:2026-03-05x"}',
    '{"type": "presence", "page": "admin:auth.user:1"}',
    '{"type": "presence", "page": "admin:schedule.task:0"}',
    '{"type": "presence", "page": "admin:schedule.task:x"}',
    '{"type": "presence", "page": "' + "a" * 200 + '"}',
    '{"type": "presence", "page": "schedule", "idle": "yes"}',
    '{"type": "presence", "page": "schedule", "editing": 12}',
    '{"type": "presence", "page": "schedule", "editing": {"stream": "users", "id": 1}}',
    '{"type": "presence", "page": "schedule", "editing": {"stream": "tasks"}}',
    '{"type": "presence", "page": "schedule", "editing": {"stream": "tasks", "id": "12"}}',
    '{"type": "presence", "page": "schedule", "editing": {"stream": "tasks", "id": true}}',
    '{"type": "presence", "page": "schedule", "editing": {"stream": "tasks", "id": -1}}',
    '{"type": "presence", "page": "schedule", "editing": {"stream": "tasks", "id": 1, "x": 1}}',
    '{"type": "presence", "page": "msg:2026-03", '
    '"editing": {"stream": "tasks", "task": 1, "date": "2026-03-05"}}',
    '{"type": "presence", "page": "msg:2026-03", '
    '"editing": {"stream": "daily_works", "task": 1, "date": "5.3.2026"}}',
]


@pytest.mark.parametrize(("text", "expected"), PRESENCE_VALID)
def test_presence_messages_parse(text, expected):
    assert protocol.parse(text) == expected


@pytest.mark.parametrize("text", PRESENCE_INVALID)
def test_malformed_presence_messages_are_invalid(text):
    with pytest.raises(ClientError) as error:
        protocol.parse(text)

    assert error.value.code == protocol.INVALID_MESSAGE


@pytest.mark.parametrize(
    ("page", "group"),
    [
        ("schedule", "presence.schedule"),
        ("msg:2026-03", "presence.msg.2026-03"),
        ("daily:2026-03-05", "presence.daily.2026-03-05"),
        ("admin:schedule.task:12", "presence.admin.schedule.task.12"),
    ],
)
def test_a_page_s_presence_group_is_a_valid_group_name(page, group):
    assert protocol.presence_group_for(page) == group


def grants(*permissions: str) -> frozenset[str]:
    return frozenset(permissions)


VIEW_TASK, VIEW_WORK, VIEW_PLAN = (
    "schedule.view_task",
    "daily.view_dailywork",
    "monthly.view_monthlytask",
)


@pytest.mark.parametrize(
    ("presence", "needs"),
    [
        (Presence(page="schedule"), [{VIEW_TASK}]),
        (Presence(page="progress"), [{VIEW_TASK}, {VIEW_WORK}]),
        (Presence(page="msg:2026-03"), [{VIEW_TASK}, {VIEW_PLAN}, {VIEW_WORK}]),
        (Presence(page="daily:2026-03-05"), [{VIEW_WORK}]),
        (
            Presence(page="admin:monthly.monthlytask:3"),
            [{"staff"}, {VIEW_PLAN, "monthly.change_monthlytask"}],
        ),
        (Presence(page="admin:schedule.task:add"), [{"staff"}, {"schedule.add_task"}]),
        (
            Presence(page="schedule", editing={"stream": "daily_works", "id": 4}),
            [{VIEW_TASK}, {VIEW_WORK}, {"daily.change_dailywork"}],
        ),
        (
            Presence(page="schedule", editing={"stream": "tasks", "id": 4}),
            [{VIEW_TASK}, {VIEW_TASK}, {"schedule.change_task"}],
        ),
        (
            Presence(page="msg:2026-03", editing={"stream": "tasks", "id": 4}),
            [
                {VIEW_TASK},
                {VIEW_PLAN},
                {VIEW_WORK},
                {VIEW_TASK},
                {"schedule.change_task", "monthly.add_monthlytask"},
            ],
        ),
        (
            Presence(
                page="msg:2026-03",
                editing={"stream": "daily_works", "task": 4, "date": "2026-03-05"},
            ),
            [
                {VIEW_TASK},
                {VIEW_PLAN},
                {VIEW_WORK},
                {VIEW_WORK},
                {"daily.add_dailywork", "daily.change_dailywork"},
            ],
        ),
        (Presence(page=None), []),
    ],
)
def test_a_presence_needs_its_pages_permissions_and_a_claim_the_change_permission(presence, needs):
    assert list(presence.needs) == needs


def test_a_need_is_met_by_any_of_its_grants():
    needs = Presence(page="admin:schedule.task:3").needs

    assert protocol.unmet(needs, grants("staff", "schedule.change_task")) == []
    assert protocol.unmet(needs, grants("staff", VIEW_TASK)) == []
    assert protocol.unmet(needs, grants(VIEW_TASK)) == [{"staff"}]


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_the_lag_sample_takes_the_rates_share_of_consecutive_event_ids(rate):
    sampled = sum(protocol.lag_sampled(event_id, rate) for event_id in range(1, 10_001))

    assert sampled == pytest.approx(10_000 * rate, abs=10)


def test_a_lag_sample_rate_of_0_samples_nothing_and_1_everything():
    ids = [1, 2, 17, 2**31, 2**53]

    assert [protocol.lag_sampled(event_id, 0) for event_id in ids] == [False] * 5
    assert [protocol.lag_sampled(event_id, 1) for event_id in ids] == [True] * 5
