from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """Page-number pagination with a client-chosen size, capped so no page is unbounded."""

    page_size_query_param = "page_size"
    max_page_size = 200
