"""Request types for views.

LoginRequiredMiddleware sends every anonymous request to the login page before a view runs
(only views marked login_not_required, the platform's push endpoint, see anonymous users), so a
view behind it may declare its request as AuthenticatedHttpRequest and hand request.user to
services that take a User.
"""

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    user: User
