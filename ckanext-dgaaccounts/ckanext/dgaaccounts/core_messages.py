"""CKAN's own messages on the pages the workflows send people to (the header, sign-in,
password reset, the profile form, the API tokens tab), which CKAN 2.11 and 2.12 ship without
a Thai translation.

Marked here so that Babel extracts them into this extension's catalog, translated there:
CKAN merges every plugin's catalog into its own (Flask-Babel's translation directories), so
the Thai pages show them in Thai. Nothing calls this module; tests/test_i18n.py checks that
each is translated and that the Thai pages show the translation.
"""
from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - Babel's keyword for "mark, do not translate now"
    return message


MESSAGES = (
    # header and page
    N_("Skip to main content"), N_("Breadcrumb"), N_("Toggle navigation"),
    N_("Search Datasets..."), N_("Submit"), N_("View dashboard"), N_("Profile settings"),
    N_("Account"), N_("Navigate to Home - {site_title}"),
    # sign-in and password reset
    N_("Username or Email"), N_("Login failed. Bad username or password or CAPTCHA."),
    N_("Email or username"), N_("Request Reset"),
    N_("Enter your email address or username into the box and we will send you an email "
       "with a link to enter a new password."),
    N_("Email is required"),
    N_("Error sending the email. Try again later or contact an administrator for help"),
    N_("A reset link has been emailed to you (unless the account specified does not exist)"),
    N_("You can also change username. It can not be modified later."),
    N_("Your password must be 8 characters or longer."),
    # the profile form
    N_("Profile picture"), N_("Profile picture URL"), N_("Old Password"),
    N_("Sysadmin password"), N_("Sysadmin Password"), N_("Password entered was incorrect"),
    N_("incorrect password"), N_("Reactivate User"), N_("Reactivate Profile"),
    N_("This account is deactivated, if you want to reactivate it, please click on "
       "checkbox."),
    N_("Not authorized to promote user to sysadmin"), N_("Promoted {} to sysadmin"),
    N_("Revoked sysadmin permission from {}"),
    # the API tokens tab
    N_("API Tokens"), N_("Create API Token"), N_("You haven't created any API Tokens."),
    N_("Token"), N_("Last access"), N_("Actions"), N_("Revoke"), N_("Revoke tokens"),
    N_("Are you sure you want to revoke these tokens?"), N_("Expires in"), N_("Units"),
    N_("Expires at"), N_("Second"), N_("Minute"), N_("Hour"), N_("Day"),
    N_("Unauthorized to view API tokens."), N_("Unauthorized to create API tokens."),
    N_("Unauthorized to revoke API tokens."),
    N_("API Token created: <code style=\"word-break:break-all;\">{token}</code> {copy}<br>"
       "Make sure to copy it now, you won't be able to see it again!"),
)
