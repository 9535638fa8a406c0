from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers and services"

    def ready(self) -> None:
        from providers import jobs  # noqa: F401 - registers the providers' job kinds
