"""Static files of the quality engineers' web page (a package so that wheels ship them)."""
