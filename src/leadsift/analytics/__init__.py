"""Analytics: the funnel, costs and revenue, ROI, attribution and lift."""
