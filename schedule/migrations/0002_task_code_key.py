"""Tasks get ``code_key`` so that the database orders codes naturally (``2.1`` before ``10.1``)."""

from django.db import migrations, models

from schedule.models import task_code_key


def fill_code_keys(apps, schema_editor):
    # The historical manager is a plain one: no version bump, no events for a schema change.
    Task = apps.get_model("schedule", "Task")
    tasks = list(Task.objects.only("pk", "code"))
    for task in tasks:
        task.code_key = task_code_key(task.code)
    Task.objects.bulk_update(tasks, ["code_key"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("schedule", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="code_key",
            field=models.CharField(default="", editable=False, max_length=768),
            preserve_default=False,
        ),
        migrations.RunPython(fill_code_keys, migrations.RunPython.noop, elidable=True),
        migrations.AlterModelOptions(
            name="task",
            options={
                "ordering": ["code_key", "id"],
                "verbose_name": "task",
                "verbose_name_plural": "tasks",
            },
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["code_key", "id"], name="task_code_order"),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("code_key", ""), _negated=True), name="task_code_key_set"
            ),
        ),
    ]
