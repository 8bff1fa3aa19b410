from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from config.errors import error_body

__all__ = ["LoginView", "home", "page_not_found", "server_error"]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.has_perm("reviews.view_queue"):
        return redirect("reviews:queue")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "home.html")


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "Internal error; it has been logged."), status=500)
    return render(request, "500.html", status=500)
