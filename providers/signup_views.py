"""`/signup-provider`: a business joins (business name, email, password), confirms its email,
then signs in and runs the onboarding wizard. Writes in providers/signup.py."""

from __future__ import annotations

from typing import Any

from allauth.core import ratelimit
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from appointly.core import who
from providers.signup import SignupLinkInvalid, password_problems, provider_signup, provider_signup_verify

# Read by the wizard's first step to prefill the business name typed at sign-up.
BUSINESS_NAME_KEY = "signup_business_name"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if who(request).is_provider:
        return redirect("dashboard")
    context: dict[str, Any] = {"business_name": "", "email": "", "errors": {}}
    if request.method != "POST":
        return render(request, "providers/signup.html", context)
    business_name = " ".join(request.POST.get("business_name", "").split())[:120]
    email = request.POST.get("email", "").strip().lower()[:254]
    password, again = request.POST.get("password1", ""), request.POST.get("password2", "")
    errors: dict[str, list[str]] = {}
    if not business_name:
        errors["business_name"] = ["Enter your business's name."]
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    if password != again:
        errors["password2"] = ["The two passwords are not the same."]
    elif problems := password_problems(password, email):
        errors["password1"] = problems
    context.update(business_name=business_name, email=email, errors=errors)
    if errors:
        return render(request, "providers/signup.html", context, status=400)
    if not ratelimit.consume(request, action="provider_signup", key=email):
        context["error"] = "Too many sign-ups from here. Please wait a while and try again."
        return render(request, "providers/signup.html", context, status=429)
    provider_signup(business_name=business_name, email=email, password=password)
    # The same page whether the email is new or already has an account (the email explains).
    return render(request, "providers/signup_sent.html", {"email": email})


@require_GET
def signup_verify(request: HttpRequest, token: str) -> HttpResponse:
    try:
        verified = provider_signup_verify(token=token[:1000])
    except SignupLinkInvalid as exc:
        return render(request, "providers/signup.html", {"error": str(exc), "errors": {}}, status=400)
    request.session[BUSINESS_NAME_KEY] = verified.business_name
    messages.success(request, "Email confirmed. Sign in to set up your business.")
    return redirect("provider_login")
