"""The docs index: TechDocs sites of catalog entities, split into sections and searchable.

discover   backstage.io/techdocs-ref → the site folder (dir: and url: refs, confined)
mkdocs     mkdocs.yml: site_name, nav, docs_dir (Backstage's rules)
markdown   pages → sections with MkDocs's anchors and plain text
gitdates   last change per file from one ``git log`` per repository
index      DocsIndexer, the post-sync step: incremental by hash, problems per entity;
           it reads and writes through ``bot.ports.DocsIndexStore``
search     the query language and its answers (engines: ``bot.store.sql.docs_search``)
model      sites, pages, sections, freshness facts, and the rows the indexer compares
service    DocsService (sites, tables of contents, search, links) over ``bot.ports.DocsQueries``
links      TechDocs URLs, a configured pattern, or the repository's web view
settings   the ``docs`` config section
"""
