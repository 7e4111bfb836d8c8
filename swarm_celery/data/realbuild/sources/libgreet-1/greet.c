#include <stdio.h>

#include "greet.h"

#ifndef GREET_SOVERSION
#error "build with -DGREET_SOVERSION=N (the Makefile passes SOVERSION)"
#endif

static char message[256];

const char *greet(const char *who)
{
	snprintf(message, sizeof message, "Hello, %s! (from libgreet.so.%d)", who, GREET_SOVERSION);
	return message;
}

int greet_soversion(void)
{
	return GREET_SOVERSION;
}
