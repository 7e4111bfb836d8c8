#include <stdio.h>

struct phrase { const char *key; const char *text; };
extern const struct phrase phrases[];
extern const int phrase_count;

int main(void)
{
	for (int i = 0; i < phrase_count; i++)
		printf("phrasebook: %s: %s\n", phrases[i].key, phrases[i].text);
	return 0;
}
