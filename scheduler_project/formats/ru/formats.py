# Django's "j F" reads «5 Декабрь»: a day takes its month in the genitive, «5 декабря» ("E").
# The admin's date hierarchy shows it.
MONTH_DAY_FORMAT = "j E"
