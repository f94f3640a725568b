"""The portal's pages and the JSON API, one module per page family; audits/urls.py and api_urls.py route to them."""
