"""The unlock page: helpdesk and supervisor users lift a sign-in lockout."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from iotadmin.lockouts import UNLOCK_PERMISSION, locked_usernames, user_unlock


@never_cache
def unlock_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(UNLOCK_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        if username:
            cleared = user_unlock(username=username, actor=request.user)
            if cleared:
                messages.success(request, f"{username} may sign in again.")
            else:
                messages.info(request, f"{username} was not locked.")
        return redirect("user_unlock")
    return render(request, "registration/unlock.html", {"locked": locked_usernames()})
