"""Backstage Software Templates (``scaffolder.backstage.io/v1beta3``), run natively.

    expressions.py   ``${{ }}`` (Nunjucks, as Backstage renders it) on Jinja's immutable sandbox
    actions.py       the built-in actions Callboard runs itself (fetch:*, fs:*, debug:log, ...)
    engine.py        the workflow: steps, ``if:``, ``each:``, ``output``, dry runs
    support.py       which actions a template uses and whether Callboard can run them

Everything that evaluates template text (expressions and skeleton files) runs in the render
child process (``bot.scaffold.render_worker``), never in the bot: the bot only reads the
template's definition (``support.py``) and, after the run, publishes what the child wrote.
User input reaches templates only as data in the context, never as template source.
"""
