"""The web application's foundation: templates, French and English, sign-in and CSRF.

Pages live in each domain's `views.py` (templates in the domain's `templates/` folder); this
package gives them `render`, the `signed_in` policy and the layout.
"""
