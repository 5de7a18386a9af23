"""``python -m figures``: regenerate the paper figures (delegates to :func:`figures.paper.main`)."""

from figures.paper import main

raise SystemExit(main())
