/* libgreet: a tiny shared library whose soname follows its sub-slot (libgreet.so.N). */
#ifndef GREET_H
#define GREET_H

/* "Hello, <who>! (from libgreet.so.<N>)": written by the library, so a program printing it called the library. */
const char *greet(const char *who);

/* The soname version the library was built with. */
int greet_soversion(void);

#endif
