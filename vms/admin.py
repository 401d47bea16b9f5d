from django.contrib import admin

from vms.models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "namespace", "created_at"]
    search_fields = ["name", "display_name"]
    inlines = [MembershipInline]
