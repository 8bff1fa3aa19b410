from django.apps import AppConfig


class DecisioningConfig(AppConfig):
    name = "decisioning"
    verbose_name = "Decisioning"

    def ready(self) -> None:
        # Registers the django-rules permissions for every app (one table of who may do what).
        from decisioning import permissions  # noqa: F401
