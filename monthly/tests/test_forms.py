import datetime
from decimal import Decimal

import pytest
from django.forms.renderers import DjangoTemplates
from django.utils import translation

from monthly.forms import (
    MonthlyTaskCreateForm,
    MonthlyTaskUpdateForm,
    PlanInputs,
    row_auto_id,
)
from schedule.tests.factories import TaskFactory

from .factories import MonthlyTaskFactory

pytestmark = pytest.mark.django_db

NOVEMBER = datetime.date(2026, 11, 1)


def new_plan() -> MonthlyTaskCreateForm:
    task = TaskFactory(code='1.1 "A" & <B>')
    return MonthlyTaskCreateForm(
        initial={"task": task, "month": NOVEMBER}, auto_id=row_auto_id(task.pk)
    )


def plan() -> MonthlyTaskUpdateForm:
    plan = MonthlyTaskFactory(month=NOVEMBER)
    return MonthlyTaskUpdateForm(instance=plan, auto_id=row_auto_id(plan.task_id))


def refused_entry() -> MonthlyTaskUpdateForm:
    plan = MonthlyTaskFactory(month=NOVEMBER)
    form = MonthlyTaskUpdateForm(
        {"volume_plan": "-1", "version": "x"}, instance=plan, auto_id=row_auto_id(plan.task_id)
    )
    assert not form.is_valid()
    return form


@pytest.mark.parametrize("build", [new_plan, plan, refused_entry])
def test_plan_forms_write_their_inputs_as_djangos_templates_do(build):
    form = build()
    fields = [*form.hidden_fields(), form["volume_plan"]]

    written = [str(field) for field in fields]
    form.renderer = DjangoTemplates()

    assert written == [str(field) for field in fields]


def test_plan_form_inputs_escape_their_attributes():
    html = str(new_plan()["volume_plan"])

    assert 'aria-label="Plan of 1.1 &quot;A&quot; &amp; &lt;B&gt; for November 2026"' in html


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("volume", [Decimal("40.000"), Decimal("12500.5"), Decimal("0.001")])
@pytest.mark.parametrize("with_plan", [False, True])
def test_plan_inputs_write_the_unbound_forms_inputs(language, volume, with_plan):
    task = TaskFactory(code='1.1 "A" & <B>')
    plan = MonthlyTaskFactory(task=task, month=NOVEMBER, volume_plan=volume, version=3)
    with translation.override(language):
        if with_plan:
            form = MonthlyTaskUpdateForm(instance=plan, auto_id=row_auto_id(task.pk))
        else:
            form = MonthlyTaskCreateForm(
                initial={"task": task, "month": NOVEMBER}, auto_id=row_auto_id(task.pk)
            )
        expected = (
            "".join(str(field) for field in form.hidden_fields()),
            str(form["volume_plan"]),
        )

        assert PlanInputs(NOVEMBER)(task, plan if with_plan else None) == expected
