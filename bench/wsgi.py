"""WSGI entry point of the benchmark's gunicorn servers: the CKAN app for ``$CKAN_INI``.

    CKAN_INI=var/bench/ext.ini gunicorn --bind 127.0.0.1:8000 bench.wsgi:application
"""
import os

from ckan.cli import load_config
from ckan.config.middleware import make_app

application = make_app(load_config(os.environ["CKAN_INI"]))
