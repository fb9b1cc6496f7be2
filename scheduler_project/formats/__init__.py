"""Where the site's languages write dates differently from Django's locale formats
(``FORMAT_MODULE_PATH``); a format not named here is Django's."""
