import pytest

from realtime.models import Event
from schedule.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/tasks/", "/api/monthly-tasks/", "/api/daily-works/"])
def test_api_lists_carry_the_newest_event_id(api_client, url):
    TaskFactory.create_batch(2)

    response = api_client.get(url)

    assert response.status_code == 200
    assert response["X-Last-Event-Id"] == str(Event.objects.latest_id())
    assert Event.objects.latest_id() > 0


def test_an_empty_log_gives_zero(api_client):
    assert api_client.get("/api/tasks/")["X-Last-Event-Id"] == "0"


def test_refused_requests_carry_no_event_id(api_client_for, make_user):
    response = api_client_for(make_user(None)).get("/api/tasks/")

    assert response.status_code == 403
    assert "X-Last-Event-Id" not in response


def test_pages_know_the_event_id_they_were_rendered_at(client, planner):
    TaskFactory()
    client.force_login(planner)

    response = client.get("/")

    assert response.wsgi_request.last_event_id == Event.objects.latest_id()
