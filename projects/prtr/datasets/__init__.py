from .filter_persons import FilterPersons

__all__ = ['FilterPersons']
