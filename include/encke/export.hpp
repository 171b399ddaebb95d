#pragma once
// ENCKE_API marks what libencke.so exports: the public classes of this directory. The library is
// built with hidden visibility, so nothing else leaks out of it.
#define ENCKE_API __attribute__((visibility("default")))
