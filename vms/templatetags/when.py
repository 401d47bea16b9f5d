from django import template

from hikube_portal import dates

register = template.Library()
register.filter("age", dates.age)
register.filter("moment", dates.moment)
