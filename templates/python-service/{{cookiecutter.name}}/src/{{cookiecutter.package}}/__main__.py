"""``python -m {{ cookiecutter.package }}``: serve on $PORT (default {{ cookiecutter.port }})."""

import os

from {{ cookiecutter.package }}.app import serve


def main() -> None:
    server = serve(port=int(os.environ.get("PORT", "{{ cookiecutter.port }}")))
    print(f"{{ cookiecutter.name }} listening on port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
