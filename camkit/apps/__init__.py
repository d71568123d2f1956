"""The apps built on camkit: the ``camkit`` command (:mod:`.cli`) and the widgets explorer
(:mod:`.explorer_state`, the explorer's state and caches without widgets; :mod:`.explorer`, the view)."""
