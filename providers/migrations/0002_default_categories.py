from django.db import migrations

CATEGORIES = [
    ("Hair & beauty", "hair-beauty"),
    ("Health & therapy", "health-therapy"),
    ("Fitness", "fitness"),
    ("Tutoring & lessons", "tutoring-lessons"),
    ("Consulting", "consulting"),
    ("Home & repairs", "home-repairs"),
    ("Other", "other"),
]


def add_categories(apps, schema_editor):
    Category = apps.get_model("providers", "Category")
    for name, slug in CATEGORIES:
        Category.objects.get_or_create(slug=slug, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [migrations.RunPython(add_categories, migrations.RunPython.noop)]
