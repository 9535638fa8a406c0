from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers and services"

    def ready(self) -> None:
        from appointly.core import set_provider_lookup
        from providers import jobs  # noqa: F401 - registers the providers' job kinds
        from providers.selectors import provider_of_user

        set_provider_lookup(provider_of_user)
