/*
 * Understanding: language detection, normalization, intent classification,
 * entity extraction and sentiment, for Chinese and English.
 *
 * Normalization is utf8proc's NFKC with case folding (full-width ＡＢＣ１２３
 * becomes abc123) and "lumping" of look-alike punctuation, then a table of
 * about a thousand common traditional Chinese characters mapped one to one
 * onto their simplified forms (every pair is three UTF-8 bytes on both
 * sides, so the mapping is done in place by binary search in a sorted
 * string; the pairs were checked against OpenCC's t2s data, which differs
 * only where kefu maps 帳 to 账, 瞭 to 了 and 妳 to 你 on purpose).
 *
 * Intents: a multinomial logistic regression over hashed TF-IDF features,
 * trained in memory at start-up.  The normalized text is cut into tokens:
 * a Latin (or other alphabetic) word is one token, with every run of digits
 * in it reduced to a single 0; a Han character is one token.  Features are
 * token unigrams and bigrams (with begin and end markers), character 2-4
 * grams of each word padded with spaces at its boundaries, and Han
 * character trigrams; each is hashed into 2^18 buckets.  Weights are
 * sublinear term frequency times smoothed IDF, and each vector is scaled to
 * unit length.  Only buckets seen in training get a row of weights (one per
 * class), so the model's size follows the training data, not the hash
 * space.  Training is SGD on the cross-entropy with L2 decay (the "scale"
 * trick keeps the decay O(1) per step) over an order shuffled by a
 * fixed-seed generator, so the same examples always give the same model:
 * about 150,000 updates, at least 6 and at most 40 epochs; an example the
 * model already gets right with probability above 0.95 sits out the next
 * epoch.  A set of 5,000 examples or more keeps only the features seen in
 * two of them at least.  Class weights soften imbalance.  The label "oos"
 * (or an empty intent) is an explicit out-of-scope class; besides it, a
 * best probability below min_confidence, or a text with no feature the
 * model knows, is out of scope too.  Either way the result's intent is
 * NULL, never a guess.  The hyper-parameters and the default
 * min_confidence were chosen on the dev splits of the shared data sets
 * (docs/quality.md).
 *
 * Entities and sentiment work on a "folded" copy of the original text in
 * which each character is mapped on its own (full-width forms to ASCII,
 * traditional to simplified, case kept), with a map from each folded byte
 * back to its offset in the original, so entity offsets are byte offsets
 * into the text as the customer wrote it.  Entities are found by small
 * scanners (e-mail, phone, amount, date), in that order, then the order
 * pattern (a POSIX ERE); a span taken by one is not reused.  Sentiment is a
 * lexicon score (English words, the longest Chinese entry in a run of Han
 * characters) with negation, intensifiers, "but" clauses, exclamation
 * marks and capitals, squashed into [-1, 1] like VADER's.
 *
 * Examples live in the store's nlu_examples table (kefuctl nlu import) and
 * in the demo's CSV file.  An import with --replace deletes every stored
 * example and adds a row whose source is NLU_DEMO_OFF_SOURCE: while it is
 * there, nlu_examples_load does not read the demo file.
 */
#include <sys/types.h>

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>
#include <utf8proc.h>

#include "csv.h"
#include "log.h"
#include "nlu.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define NLU_DIM_BITS		18
#define NLU_DIM			(1U << NLU_DIM_BITS)
#define NLU_TEXT_MAX		4096	/* normalized bytes featurized */
#define NLU_ENTITY_TEXT_MAX	65536	/* original bytes scanned */
#define NLU_WORD_MAX		32	/* bytes of a word cut into n-grams */
#define NLU_STEPS		150000	/* updates a training set gets */
#define NLU_EPOCHS_MIN		6	/* passes over a large training set */
#define NLU_EPOCHS_MAX		40	/* over a small one */
#define NLU_ETA			2.0	/* learning rate */
#define NLU_LAMBDA		1e-6	/* L2 decay per step */
#define NLU_BIAS_RATE		0.1f	/* the biases learn slower */
#define NLU_CLASS_POWER		0.5	/* class weight (n / (k n_c))^power */
#define NLU_MIN_DF_LARGE	2	/* documents a feature must be in */
#define NLU_LARGE		5000	/* examples that make a large set */
#define NLU_REST		0.95f	/* a probability that needs no study */
#define NLU_SEED		0x6b656675U	/* "kefu" */
#define NLU_FILE_MAX		(256 * 1024 * 1024)
#define NLU_OOS			"oos"
#define NLU_DEMO_OFF_SOURCE	"kefu:demo-disabled"

/* The default order number: letters and digits (ORD-12345) or 6-20 digits. */
#define NLU_ORDER_PATTERN	"[A-Za-z]{1,6}-?[0-9]{4,20}|[0-9]{6,20}"

/* Four floats, loaded and stored without an alignment requirement. */
typedef float nlu_v4 __attribute__((vector_size(16), aligned(4)));

struct nlu {
	char		**labels;	/* every class, sorted */
	size_t		  nlabels;
	int		  oos;		/* the out-of-scope class, or -1 */
	const char	**intents;	/* the labels but oos */
	size_t		  nintents;
	size_t		  kpad;		/* nlabels rounded up to 8 */
	int32_t		 *rowof;	/* NLU_DIM: row of a bucket, or -1 */
	float		 *idf;		/* per row */
	float		 *w;		/* nrows x kpad */
	float		 *bias;		/* kpad */
	size_t		  nrows;
	double		  min_confidence;
	regex_t		  order_re;
	int		  order_custom;
};

/* A growing array of feature buckets. */
struct nlu_feats {
	uint32_t	*v;
	size_t		 n;
	size_t		 size;
};

/* A sparse vector: rows and values. */
struct nlu_vec {
	int32_t		*row;
	float		*val;
	size_t		 n;
};

/* Text mapped character by character, with offsets into the original. */
struct nlu_fold {
	char		*s;
	size_t		 len;
	size_t		*map;		/* len + 1 original offsets */
	int		 digits;	/* whether it has an ASCII digit */
};

/* ------------------------------------------------------------------------
 * Characters.
 */

/* Traditional to simplified pairs, sorted by the traditional character. */
static const char nlu_t2s[] =
	"丟丢並并乾干亂乱亞亚佈布併并來来侖仑係系俠侠倆俩"
	"倉仓個个們们倫伦偉伟側侧偵侦傘伞備备傢家傳传傷伤"
	"傾倾僅仅僑侨價价儀仪億亿儘尽償偿優优兌兑兒儿內内"
	"兩两冊册凍冻凱凯別别則则剎刹剛刚創创劃划劇剧劉刘"
	"劍剑劑剂勁劲動动務务勝胜勞劳勢势勳勋勵励勸劝匯汇"
	"匱匮區区協协卻却厭厌厲厉參参叢丛吳吴吶呐呂吕咼呙"
	"員员唸念問问啓启啞哑啟启喚唤喪丧喬乔單单嗆呛嗎吗"
	"嘆叹嘍喽嘗尝嘩哗噁恶噴喷噸吨嚇吓嚕噜嚨咙嚮向嚴严"
	"囉啰囑嘱國国圍围園园圓圆圖图團团執执堅坚報报場场"
	"塊块塗涂塵尘墊垫墳坟壇坛壓压壞坏壩坝壯壮壺壶壽寿"
	"夠够夢梦夥伙奐奂奧奥奪夺奮奋妝妆妳你姍姗婦妇婭娅"
	"媽妈嫻娴嬌娇嬰婴孌娈孫孙學学寢寝實实寧宁寫写寬宽"
	"寵宠寶宝將将專专尋寻對对導导尷尴屆届屍尸屜屉層层"
	"屬属岡冈島岛峽峡崗岗嶺岭巖岩師师帳账帶带幟帜幣币"
	"幫帮幹干幾几庫库廁厕廂厢廈厦廚厨廟庙廠厂廢废廣广"
	"廳厅張张強强彆别彈弹彌弥彎弯彙汇後后徑径從从徠徕"
	"復复徵征徹彻恆恒恥耻悅悦悶闷惡恶惱恼愛爱態态慘惨"
	"慣惯慮虑慶庆憂忧憐怜憑凭憶忆懇恳應应懶懒懷怀懸悬"
	"懼惧戀恋戧戗戰战戲戏戶户拋抛挾挟捨舍掃扫掛挂採采"
	"揀拣揚扬換换揮挥損损搖摇搶抢摟搂撈捞撥拨撫抚撲扑"
	"擁拥擇择擊击擋挡擔担據据擠挤擬拟擰拧擱搁擴扩擺摆"
	"擾扰攏拢攔拦攜携攝摄攤摊攪搅敗败敘叙敵敌數数斂敛"
	"斃毙斬斩斷断於于昇升時时晉晋晝昼暈晕暉晖暢畅暫暂"
	"曆历曉晓曖暧曠旷曬晒書书會会東东桿杆條条棄弃棗枣"
	"棟栋楊杨業业極极榮荣構构槍枪樁桩樂乐樓楼標标樣样"
	"樹树橋桥機机橫横檔档檢检櫃柜櫻樱欄栏權权歎叹歐欧"
	"歡欢歲岁歷历歸归殘残殯殡殺杀殼壳毀毁毆殴氈毡氣气"
	"決决沒没沖冲況况涼凉淚泪淨净減减渦涡測测湊凑湧涌"
	"湯汤準准溝沟溫温滅灭滯滞滲渗滾滚滿满漁渔漢汉漬渍"
	"漲涨漿浆潑泼潔洁潛潜澀涩澆浇澇涝澤泽澱淀濁浊濃浓"
	"濕湿濟济濱滨濾滤瀉泻瀏浏灑洒灘滩灝灏灣湾災灾為为"
	"烏乌無无煙烟煩烦熱热燈灯燒烧燙烫燦灿燭烛爐炉爛烂"
	"爭争爲为爺爷爾尔牆墙牽牵犧牺狀状狹狭猶犹猻狲獄狱"
	"獅狮獎奖獨独獲获獻献現现瑣琐瑪玛璣玑環环瓊琼產产"
	"畝亩畢毕畫画異异當当疊叠痠酸瘋疯瘡疮瘧疟療疗癒愈"
	"癢痒發发皸皲皺皱盜盗盞盏盡尽監监盤盘盧卢眥眦眾众"
	"睏困睜睁瞭了矚瞩碩硕碭砀確确碼码磚砖礎础礙碍礦矿"
	"祕秘禍祸禦御禪禅禮礼禱祷禿秃稅税稈秆種种稱称穀谷"
	"積积穎颖穩稳窩窝窮穷窺窥竄窜竊窃競竞筆笔筍笋箏筝"
	"節节範范築筑篩筛簡简簽签簾帘籃篮籤签粵粤糧粮糲粝"
	"糾纠紀纪約约紅红紋纹紐纽純纯紙纸級级紛纷紡纺紮扎"
	"細细紳绅紹绍絀绌終终組组結结絕绝絡络給给絨绒統统"
	"絲丝綁绑綏绥經经綜综綠绿維维綱纲網网綿绵緊紧緒绪"
	"線线緝缉緣缘編编緩缓緯纬練练縣县縫缝縮缩縱纵縷缕"
	"總总績绩繃绷織织繞绕繡绣繩绳繪绘繫系繳缴繼继續续"
	"纏缠纔才纖纤罌罂罰罚罵骂罷罢羅罗羋芈義义習习翬翚"
	"翹翘聖圣聞闻聯联聰聪聲声聳耸聶聂職职聽听肅肃脅胁"
	"脫脱脹胀腎肾腦脑膚肤膠胶膩腻膽胆膾脍臉脸臨临臺台"
	"與与興兴舉举舊旧舖铺艦舰艱艰艷艳莊庄華华萬万葉叶"
	"蓋盖蔥葱蕭萧薦荐薩萨藍蓝藝艺藥药蘆芦蘇苏蘊蕴蘋苹"
	"蘭兰處处虛虚虜虏號号蛻蜕蝦虾螞蚂蟲虫蠅蝇蠟蜡衆众"
	"衊蔑術术衛卫衝冲裊袅裏里補补裝装裡里製制複复褲裤"
	"褸褛襖袄襪袜襯衬見见規规覓觅視视親亲覬觊覺觉覽览"
	"觀观觴觞觸触訂订訃讣計计訊讯討讨訓训託托記记訝讶"
	"訣诀訪访設设許许訴诉診诊註注詐诈詔诏評评詞词詢询"
	"試试話话該该詳详誇夸誌志認认誕诞誘诱語语誠诚誤误"
	"說说説说誰谁課课誼谊調调談谈請请諒谅論论諮咨諷讽"
	"諾诺謀谋謄誊謊谎謎谜講讲謝谢謠谣謹谨證证識识譜谱"
	"譯译議议譴谴護护讀读變变讒谗讓让讚赞豈岂豎竖豐丰"
	"豬猪貓猫貝贝貞贞負负財财貢贡貨货販贩貪贪貫贯責责"
	"貴贵買买貸贷費费貼贴貽贻貿贸賀贺賄贿資资賊贼賑赈"
	"賓宾賜赐賠赔賣卖賤贱賦赋質质賬账賭赌賴赖賺赚購购"
	"賽赛贈赠贊赞贏赢贓赃贖赎趕赶趙赵趨趋跡迹踐践蹤踪"
	"躊踌躍跃軀躯車车軋轧軌轨軍军軟软軸轴較较載载輓挽"
	"輔辅輕轻輛辆輝辉輩辈輪轮輯辑輸输轄辖轉转轎轿轟轰"
	"辦办辭辞辯辩農农迴回這这連连週周進进遊游運运過过"
	"達达違违遙遥遜逊遞递遠远適适遲迟遷迁選选遺遗邁迈"
	"還还邊边邏逻郵邮鄉乡鄭郑鄰邻醃腌醜丑醞酝醫医醬酱"
	"釀酿釋释針针鈍钝鈔钞鈕钮鈴铃鉑铂鉗钳鉛铅鉤钩銀银"
	"銅铜銜衔銳锐銷销鋁铝鋒锋鋪铺鋸锯鋼钢錄录錘锤錢钱"
	"錦锦錨锚錯错錳锰錶表鍊炼鍋锅鍍镀鍛锻鍬锹鍵键鍾钟"
	"鎂镁鎖锁鎮镇鏈链鏟铲鏡镜鏢镖鏽锈鐘钟鐵铁鐺铛鑄铸"
	"鑑鉴鑒鉴鑰钥鑽钻長长門门閃闪閉闭開开閑闲閒闲間间"
	"閘闸閣阁閥阀閱阅闆板闊阔闌阑闖闯關关陘陉陣阵陰阴"
	"陳陈陸陆陽阳隊队階阶隕陨際际隨随險险隱隐隴陇隸隶"
	"隻只雖虽雙双雛雏雜杂雞鸡離离難难雲云電电霧雾霽霁"
	"靈灵靚靓靜静靦腼鞏巩韋韦韌韧韓韩韻韵響响頁页頂顶"
	"頃顷項项順顺須须預预頑顽頒颁頓顿頗颇領领頜颌頭头"
	"頸颈頻频顆颗題题額额顎颚顏颜願愿類类顧顾顫颤顯显"
	"風风颱台颳刮颼飕飄飘飛飞飢饥飯饭飲饮飽饱飾饰餃饺"
	"餅饼養养餓饿餘余館馆餵喂餿馊饋馈饑饥饒饶饞馋馬马"
	"駁驳駐驻駕驾騎骑騖骛騙骗騷骚驅驱驕骄驗验驚惊驛驿"
	"驟骤骯肮髏髅髒脏體体髮发鬆松鬍胡鬚须鬥斗鬧闹鬨哄"
	"鬱郁魘魇魚鱼魯鲁鮮鲜鯉鲤鯨鲸鯽鲫鳥鸟鳳凤鳴鸣鴨鸭"
	"鴻鸿鵑鹃鵝鹅鶴鹤鷗鸥鷹鹰鹽盐麗丽麥麦麵面麼么黃黄"
	"點点黨党黲黪黴霉齊齐齋斋齒齿齡龄齷龌龍龙龐庞龕龛"
	"龜龟";

/* Whether a code point is a Han (CJK ideograph) character. */
static int
nlu_is_han(int32_t c)
{
	return ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
	    (c >= 0xf900 && c <= 0xfaff) || (c >= 0x20000 && c <= 0x3134f));
}

/* Whether a code point is a letter, digit or combining mark. */
static int
nlu_is_alnum(int32_t c)
{
	utf8proc_category_t	cat;

	if (c < 0x80)
		return (isalnum((unsigned char)c));
	cat = utf8proc_category(c);
	return ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME) ||
	    (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO));
}

/* Decode one code point at s (len bytes left); invalid bytes count as one. */
static size_t
nlu_decode(const char *s, size_t len, int32_t *c)
{
	utf8proc_ssize_t	n;

	if ((unsigned char)*s < 0x80) {
		*c = (unsigned char)*s;
		return (1);
	}
	n = utf8proc_iterate((const utf8proc_uint8_t *)s,
	    (utf8proc_ssize_t)len, c);
	if (n <= 0) {
		*c = 0xfffd;
		return (1);
	}
	return ((size_t)n);
}

/* The simplified form of the three-byte character at s, or NULL. */
static const char *
nlu_t2s_find(const char *s)
{
	size_t	lo = 0, hi = (sizeof nlu_t2s - 1) / 6, mid;
	int	c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = memcmp(nlu_t2s + mid * 6, s, 3);
		if (c == 0)
			return (nlu_t2s + mid * 6 + 3);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (NULL);
}

/* Map traditional characters in a UTF-8 string to simplified, in place. */
static void
nlu_t2s_apply(char *s, size_t len)
{
	const char	*t;
	unsigned char	 b;
	size_t		 i = 0;

	while (i < len) {
		b = (unsigned char)s[i];
		if (b >= 0xe3 && b <= 0xe9 && i + 2 < len) {
			if ((t = nlu_t2s_find(s + i)) != NULL)
				memcpy(s + i, t, 3);
			i += 3;
		} else if (b < 0x80)
			i++;
		else if (b >= 0xf0)
			i += 4;
		else if (b >= 0xe0)
			i += 3;
		else
			i += 2;
	}
}

/* A copy of s with invalid UTF-8 replaced by U+FFFD; NULL if s is valid. */
static char *
nlu_utf8_clean(const char *s)
{
	size_t		 len = strlen(s), i, n, out = 0;
	int32_t		 c;
	char		*copy = NULL;

	for (i = 0; i < len; i += n) {
		if ((unsigned char)s[i] < 0x80) {
			n = 1;
			if (copy != NULL)
				copy[out++] = s[i];
			continue;
		}
		n = (size_t)utf8proc_iterate((const utf8proc_uint8_t *)s + i,
		    (utf8proc_ssize_t)(len - i), &c);
		if ((utf8proc_ssize_t)n > 0) {
			if (copy != NULL) {
				memcpy(copy + out, s + i, n);
				out += n;
			}
			continue;
		}
		if (copy == NULL) {
			copy = xmalloc(len * 3 + 1);
			memcpy(copy, s, i);
			out = i;
		}
		memcpy(copy + out, "\xef\xbf\xbd", 3);
		out += 3;
		n = 1;
	}
	if (copy != NULL)
		copy[out] = '\0';
	return (copy);
}

/* NFKC, case-folded, traditional Chinese mapped to simplified; caller frees. */
char *
nlu_normalize(const char *text)
{
	utf8proc_uint8_t	*out = NULL;
	utf8proc_ssize_t	 n;
	char			*clean, *r;

	clean = nlu_utf8_clean(text);
	n = utf8proc_map((const utf8proc_uint8_t *)(clean != NULL ? clean :
	    text), 0, &out, UTF8PROC_NULLTERM | UTF8PROC_STABLE |
	    UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
	    UTF8PROC_LUMP);
	free(clean);
	if (n < 0)
		log_fatalx("nlu", "msg=\"utf8proc_map failed\" error=%s",
		    logq(utf8proc_errmsg(n)));
	nlu_t2s_apply((char *)out, (size_t)n);
	r = xstrndup((const char *)out, (size_t)n);
	free(out);
	return (r);
}

/* "en", "zh-CN", or NULL when the text has no letters. */
const char *
nlu_detect_lang(const char *text)
{
	size_t		len = strlen(text), i, n;
	long		han = 0, latin = 0;
	int32_t		c;

	for (i = 0; i < len; i += n) {
		n = nlu_decode(text + i, len - i, &c);
		if (c < 0x80) {
			if (isalpha((unsigned char)c))
				latin++;
		} else if (nlu_is_han(c))
			han++;
		else if ((c >= 0xff21 && c <= 0xff3a) ||
		    (c >= 0xff41 && c <= 0xff5a))
			latin++;
		else if (c < 0x2000 && nlu_is_alnum(c) &&
		    utf8proc_category(c) <= UTF8PROC_CATEGORY_LO)
			latin++;
	}
	if (han == 0 && latin == 0)
		return (NULL);
	/* A Han character says about as much as a three-letter word. */
	return (3 * han >= latin ? "zh-CN" : "en");
}

/* Map one original character for the folded view; returns the code point. */
static int32_t
nlu_fold_char(int32_t c)
{
	utf8proc_int32_t	dst[4];
	utf8proc_ssize_t	n;
	int			bc = 0;

	if (c < 0x80)
		return (c);
	n = utf8proc_decompose_char(c, dst, 4, UTF8PROC_DECOMPOSE |
	    UTF8PROC_COMPAT | UTF8PROC_LUMP, &bc);
	if (n == 1)
		return (dst[0]);
	return (c);
}

/* Build the folded view of text (at most NLU_ENTITY_TEXT_MAX bytes). */
static void
nlu_fold_init(struct nlu_fold *f, const char *text)
{
	size_t			 len = strlen(text), i, n, k, j;
	utf8proc_uint8_t	 enc[4];
	const char		*t;
	int32_t			 c;

	if (len > NLU_ENTITY_TEXT_MAX)
		len = NLU_ENTITY_TEXT_MAX;
	f->s = xmalloc(len * 3 + 1);
	f->map = xreallocarray(NULL, len * 3 + 1, sizeof *f->map);
	f->len = 0;
	f->digits = 0;
	for (i = 0; i < len; i += n) {
		n = nlu_decode(text + i, len - i, &c);
		if (i + n > len)
			break;
		c = nlu_fold_char(c);
		k = (size_t)utf8proc_encode_char(c, enc);
		if (k == 3 && nlu_is_han(c) &&
		    (t = nlu_t2s_find((const char *)enc)) != NULL)
			memcpy(enc, t, 3);
		if (c >= '0' && c <= '9')
			f->digits = 1;
		for (j = 0; j < k; j++) {
			f->s[f->len] = (char)enc[j];
			f->map[f->len++] = i;
		}
	}
	f->s[f->len] = '\0';
	f->map[f->len] = i < len ? i : len;
}

/* Free a folded view. */
static void
nlu_fold_free(struct nlu_fold *f)
{
	free(f->s);
	free(f->map);
}

/* ------------------------------------------------------------------------
 * Features.
 */

/* FNV-1a over bytes, from a seed. */
static uint64_t
nlu_hash(uint64_t h, const char *s, size_t len)
{
	size_t	i;

	h ^= 0xcbf29ce484222325ULL;
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

/* Mix a hash into a bucket. */
static uint32_t
nlu_bucket(uint64_t h)
{
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 32;
	return ((uint32_t)h & (NLU_DIM - 1));
}

/* Append a bucket. */
static void
nlu_feats_add(struct nlu_feats *f, uint64_t h)
{
	if (f->n == f->size) {
		f->size = f->size == 0 ? 256 : f->size * 2;
		f->v = xreallocarray(f->v, f->size, sizeof *f->v);
	}
	f->v[f->n++] = nlu_bucket(h);
}

/* Namespaces: each kind of feature hashes from its own seed. */
#define NLU_NS_TOKEN	0x1000
#define NLU_NS_UNI	0x2000
#define NLU_NS_BI	0x3000
#define NLU_NS_CHAR	0x4000
#define NLU_NS_HAN3	0x5000
#define NLU_BOS		0x0b05b05b05ULL
#define NLU_EOS		0x0e05e05e05ULL

/* Add a token's unigram and its bigram with the previous token. */
static void
nlu_feats_token(struct nlu_feats *f, uint64_t *prev, uint64_t th)
{
	nlu_feats_add(f, th ^ NLU_NS_UNI);
	nlu_feats_add(f, (*prev * 0x9e3779b97f4a7c15ULL) ^ th ^ NLU_NS_BI);
	*prev = th;
}

/* Add a word: its token features and its padded character n-grams. */
static void
nlu_feats_word(struct nlu_feats *f, uint64_t *prev, const char *w,
    size_t len)
{
	char	pad[NLU_WORD_MAX + 2];
	size_t	plen, n, i;

	nlu_feats_token(f, prev, nlu_hash(NLU_NS_TOKEN, w, len));
	if (len > NLU_WORD_MAX)
		len = NLU_WORD_MAX;
	pad[0] = ' ';
	memcpy(pad + 1, w, len);
	pad[len + 1] = ' ';
	plen = len + 2;
	for (n = 2; n <= 4; n++) {
		for (i = 0; i + n <= plen; i++)
			nlu_feats_add(f, nlu_hash(NLU_NS_CHAR + n, pad + i, n));
	}
}

/*
 * The feature buckets of a normalized text (repeated buckets repeat).  The
 * caller frees f->v.
 */
static void
nlu_features(const char *s, struct nlu_feats *f)
{
	char		 word[256];
	const char	*han[3] = { NULL, NULL, NULL };
	size_t		 len = strlen(s), i, n, wlen = 0, hn = 0;
	uint64_t	 prev = NLU_BOS;
	int32_t		 c;
	int		 digits = 0;

	memset(f, 0, sizeof *f);
	if (len > NLU_TEXT_MAX)
		len = NLU_TEXT_MAX;
	for (i = 0; i <= len; i += n) {
		if (i == len) {
			c = ' ';
			n = 1;
		} else
			n = nlu_decode(s + i, len - i, &c);
		if (c != '\'' && !nlu_is_han(c) && nlu_is_alnum(c)) {
			if (c < 0x80 && isdigit((unsigned char)c)) {
				if (digits)
					continue;
				digits = 1;
				if (wlen < sizeof word)
					word[wlen++] = '0';
				continue;
			}
			digits = 0;
			if (wlen + n <= sizeof word) {
				memcpy(word + wlen, s + i, n);
				wlen += n;
			}
			continue;
		}
		if (c == '\'' && wlen > 0 && i + 1 < len &&
		    isalpha((unsigned char)s[i + 1]))
			continue;	/* don't, it's: one word */
		digits = 0;
		if (wlen > 0) {
			nlu_feats_word(f, &prev, word, wlen);
			wlen = 0;
			hn = 0;
		}
		if (nlu_is_han(c)) {
			nlu_feats_token(f, &prev, nlu_hash(NLU_NS_TOKEN,
			    s + i, n));
			han[0] = han[1];
			han[1] = han[2];
			han[2] = s + i;
			if (++hn >= 3)
				nlu_feats_add(f, nlu_hash(NLU_NS_HAN3, han[0],
				    (size_t)(han[2] - han[0]) + n));
		} else
			hn = 0;
	}
	if (prev != NLU_BOS)
		nlu_feats_add(f, (prev * 0x9e3779b97f4a7c15ULL) ^ NLU_EOS ^
		    NLU_NS_BI);
}

/*
 * Count repeated keys: on return keys[0..m) are distinct (first-seen
 * order) and counts[i] how often each appeared; returns m.
 */
static size_t
nlu_count(uint32_t *keys, size_t n, uint32_t *counts)
{
	uint32_t	*slot, stack[2048], h;
	size_t		 size = 64, m = 0, i, j;

	while (size < n * 2)
		size *= 2;
	slot = size <= sizeof stack / sizeof stack[0] ? stack :
	    xreallocarray(NULL, size, sizeof *slot);
	memset(slot, 0xff, size * sizeof *slot);
	for (i = 0; i < n; i++) {
		h = (keys[i] * 2654435761U) & (uint32_t)(size - 1);
		for (;;) {
			j = slot[h];
			if (j == 0xffffffffU) {
				slot[h] = (uint32_t)m;
				keys[m] = keys[i];
				counts[m++] = 1;
				break;
			}
			if (keys[j] == keys[i]) {
				counts[j]++;
				break;
			}
			h = (h + 1) & (uint32_t)(size - 1);
		}
	}
	if (slot != stack)
		free(slot);
	return (m);
}

/*
 * The model's sparse TF-IDF vector of a normalized text; the caller frees
 * v->row and v->val.
 */
static void
nlu_vectorize(const struct nlu *m, const char *norm, struct nlu_vec *v)
{
	struct nlu_feats	 f;
	uint32_t		*counts;
	size_t			 i, k = 0, n;
	double			 sum = 0, x;
	int32_t			 r;

	nlu_features(norm, &f);
	for (i = 0; i < f.n; i++) {
		if ((r = m->rowof[f.v[i]]) >= 0)
			f.v[k++] = (uint32_t)r;
	}
	counts = xreallocarray(NULL, k + 1, sizeof *counts);
	n = nlu_count(f.v, k, counts);
	v->row = xreallocarray(NULL, n + 1, sizeof *v->row);
	v->val = xreallocarray(NULL, n + 1, sizeof *v->val);
	v->n = n;
	for (i = 0; i < n; i++) {
		x = (1.0 + log((double)counts[i])) * m->idf[f.v[i]];
		v->row[i] = (int32_t)f.v[i];
		v->val[i] = (float)x;
		sum += x * x;
	}
	if (sum > 0) {
		sum = 1.0 / sqrt(sum);
		for (i = 0; i < n; i++)
			v->val[i] = (float)(v->val[i] * sum);
	}
	free(counts);
	free(f.v);
}

/* ------------------------------------------------------------------------
 * The linear model.
 */

/*
 * scores[0..kpad) = bias + scale * sum of x_j * W[row_j].  The classes go
 * in blocks of 32 held in registers while the rows stream past.
 */
static void
nlu_scores(const struct nlu *m, const struct nlu_vec *v, float scale,
    float *scores)
{
	const nlu_v4	*r;
	nlu_v4		 a[8], x, *out = (nlu_v4 *)scores;
	size_t		 i, j, k, kp = m->kpad;

	for (k = 0; k < kp; k += 32) {
		if (k + 32 <= kp) {
			for (j = 0; j < 8; j++)
				a[j] = (nlu_v4){ 0, 0, 0, 0 };
			for (i = 0; i < v->n; i++) {
				r = (const nlu_v4 *)(m->w +
				    (size_t)v->row[i] * kp + k);
				x = (nlu_v4){ v->val[i], v->val[i], v->val[i],
				    v->val[i] };
				a[0] += x * r[0];
				a[1] += x * r[1];
				a[2] += x * r[2];
				a[3] += x * r[3];
				a[4] += x * r[4];
				a[5] += x * r[5];
				a[6] += x * r[6];
				a[7] += x * r[7];
			}
			for (j = 0; j < 8; j++)
				out[k / 4 + j] = a[j];
			continue;
		}
		for (; k < kp; k += 8) {
			a[0] = a[1] = (nlu_v4){ 0, 0, 0, 0 };
			for (i = 0; i < v->n; i++) {
				r = (const nlu_v4 *)(m->w +
				    (size_t)v->row[i] * kp + k);
				x = (nlu_v4){ v->val[i], v->val[i], v->val[i],
				    v->val[i] };
				a[0] += x * r[0];
				a[1] += x * r[1];
			}
			out[k / 4] = a[0];
			out[k / 4 + 1] = a[1];
		}
	}
	for (k = 0; k < kp; k++)
		scores[k] = scores[k] * scale + m->bias[k];
}

/* Turn the first k scores into probabilities. */
static void
nlu_softmax(float *s, size_t k)
{
	float	max = s[0];
	double	sum = 0;
	size_t	i;

	for (i = 1; i < k; i++) {
		if (s[i] > max)
			max = s[i];
	}
	for (i = 0; i < k; i++) {
		s[i] = expf(s[i] - max);
		sum += s[i];
	}
	for (i = 0; i < k; i++)
		s[i] = (float)(s[i] / sum);
}

/* A deterministic pseudo-random generator (xorshift64*). */
static uint64_t
nlu_rand(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return (*state * 0x2545f4914f6cdd1dULL);
}

/* Compare two strings through pointers, for qsort and bsearch. */
static int
nlu_strcmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* The class label of an example: its intent, or "oos" when empty. */
static const char *
nlu_label(const struct nlu_example *e)
{
	if (e->intent == NULL || *e->intent == '\0')
		return (NLU_OOS);
	return (e->intent);
}

/* Collect the sorted distinct labels of the examples. */
static void
nlu_labels(struct nlu *m, const struct nlu_example *ex, size_t n)
{
	const char	**all;
	size_t		  i, k = 0;

	all = xreallocarray(NULL, n + 1, sizeof *all);
	for (i = 0; i < n; i++) {
		if (ex[i].text != NULL && *ex[i].text != '\0')
			all[k++] = nlu_label(&ex[i]);
	}
	qsort(all, k, sizeof *all, nlu_strcmp);
	m->labels = xreallocarray(NULL, k + 1, sizeof *m->labels);
	m->intents = xreallocarray(NULL, k + 1, sizeof *m->intents);
	m->oos = -1;
	for (i = 0; i < k; i++) {
		if (i > 0 && strcmp(all[i], all[i - 1]) == 0)
			continue;
		if (strcmp(all[i], NLU_OOS) == 0)
			m->oos = (int)m->nlabels;
		else
			m->intents[m->nintents++] = all[i];
		m->labels[m->nlabels++] = xstrdup(all[i]);
	}
	for (i = 0; i < m->nintents; i++) {
		m->intents[i] = *(char **)bsearch(&m->intents[i], m->labels,
		    m->nlabels, sizeof *m->labels, nlu_strcmp);
	}
	free(all);
	m->kpad = (m->nlabels + 7) & ~(size_t)7;
}

/* The class of a label (it must be one). */
static size_t
nlu_label_index(const struct nlu *m, const char *label)
{
	char	**p;

	p = bsearch(&label, m->labels, m->nlabels, sizeof *m->labels,
	    nlu_strcmp);
	return ((size_t)(p - m->labels));
}

/* Training data: each example's vector and class. */
struct nlu_train_set {
	struct nlu_vec	*vec;
	uint32_t	*cls;
	float		*cw;		/* per class */
	size_t		 n;
};

/*
 * Featurize the examples: count document frequencies, give a row to every
 * bucket seen in enough examples (one, or two in a large set, where a
 * feature seen once is mostly noise and memory), and build the TF-IDF
 * vectors.
 */
static void
nlu_prepare(struct nlu *m, const struct nlu_example *ex, size_t n,
    struct nlu_train_set *ts)
{
	uint32_t		*df, *counts, **keys, **tfs;
	size_t			*nkeys, i, j, k, *per;
	struct nlu_feats	 f;
	char			*norm;
	double			 sum, x;
	uint32_t		 min_df;

	df = xcalloc(NLU_DIM, sizeof *df);
	keys = xcalloc(n + 1, sizeof *keys);
	tfs = xcalloc(n + 1, sizeof *tfs);
	nkeys = xcalloc(n + 1, sizeof *nkeys);
	ts->vec = xcalloc(n + 1, sizeof *ts->vec);
	ts->cls = xcalloc(n + 1, sizeof *ts->cls);
	per = xcalloc(m->kpad, sizeof *per);
	ts->n = 0;
	for (i = 0; i < n; i++) {
		if (ex[i].text == NULL || *ex[i].text == '\0')
			continue;
		norm = nlu_normalize(ex[i].text);
		nlu_features(norm, &f);
		free(norm);
		counts = xreallocarray(NULL, f.n + 1, sizeof *counts);
		k = nlu_count(f.v, f.n, counts);
		for (j = 0; j < k; j++)
			df[f.v[j]]++;
		keys[ts->n] = f.v;
		tfs[ts->n] = counts;
		nkeys[ts->n] = k;
		ts->cls[ts->n] = (uint32_t)nlu_label_index(m,
		    nlu_label(&ex[i]));
		per[ts->cls[ts->n]]++;
		ts->n++;
	}

	min_df = ts->n >= NLU_LARGE ? NLU_MIN_DF_LARGE : 1;
	m->rowof = xreallocarray(NULL, NLU_DIM, sizeof *m->rowof);
	m->nrows = 0;
	for (i = 0; i < NLU_DIM; i++) {
		if (df[i] >= min_df)
			m->rowof[i] = (int32_t)m->nrows++;
		else
			m->rowof[i] = -1;
	}
	m->idf = xreallocarray(NULL, m->nrows + 1, sizeof *m->idf);
	for (i = 0; i < NLU_DIM; i++) {
		if (m->rowof[i] >= 0)
			m->idf[m->rowof[i]] = (float)(log((1.0 + ts->n) /
			    (1.0 + df[i])) + 1.0);
	}

	for (i = 0; i < ts->n; i++) {
		struct nlu_vec	*v = &ts->vec[i];

		v->row = xreallocarray(NULL, nkeys[i] + 1, sizeof *v->row);
		v->val = xreallocarray(NULL, nkeys[i] + 1, sizeof *v->val);
		sum = 0;
		for (j = 0; j < nkeys[i]; j++) {
			if (m->rowof[keys[i][j]] < 0)
				continue;
			x = (1.0 + log((double)tfs[i][j])) *
			    m->idf[m->rowof[keys[i][j]]];
			v->row[v->n] = m->rowof[keys[i][j]];
			v->val[v->n++] = (float)x;
			sum += x * x;
		}
		if (sum > 0) {
			sum = 1.0 / sqrt(sum);
			for (j = 0; j < v->n; j++)
				v->val[j] = (float)(v->val[j] * sum);
		}
		free(keys[i]);
		free(tfs[i]);
	}

	ts->cw = xcalloc(m->kpad, sizeof *ts->cw);
	for (i = 0; i < m->nlabels; i++) {
		ts->cw[i] = per[i] == 0 ? 0 : (float)pow((double)ts->n /
		    ((double)m->nlabels * (double)per[i]), NLU_CLASS_POWER);
	}
	free(per);
	free(nkeys);
	free(tfs);
	free(keys);
	free(df);
}

/* Free training data. */
static void
nlu_train_set_free(struct nlu_train_set *ts)
{
	size_t	i;

	for (i = 0; i < ts->n; i++) {
		free(ts->vec[i].row);
		free(ts->vec[i].val);
	}
	free(ts->vec);
	free(ts->cls);
	free(ts->cw);
}

/* Multiply every weight by scale. */
static void
nlu_rescale(struct nlu *m, float scale)
{
	size_t	i, n = m->nrows * m->kpad;

	for (i = 0; i < n; i++)
		m->w[i] *= scale;
}

/* Fit the weights by SGD over a fixed-seed shuffle of the examples. */
static void
nlu_fit(struct nlu *m, const struct nlu_train_set *ts, int epochs)
{
	float		*p, *g, *row, scale = 1.0f, eta = NLU_ETA, step;
	nlu_v4		*w, gv;
	uint32_t	*active;
	uint8_t		*rest;
	size_t		*order, i, j, k, t, na, nv = m->kpad / 4;
	uint64_t	 rs = NLU_SEED;
	int		 e;
	float		 gmax;

	m->w = xcalloc(m->nrows * m->kpad + 8, sizeof *m->w);
	m->bias = xcalloc(m->kpad, sizeof *m->bias);
	p = xcalloc(m->kpad, sizeof *p);
	g = xcalloc(m->kpad, sizeof *g);
	active = xcalloc(m->kpad, sizeof *active);
	rest = xcalloc(ts->n + 1, 1);
	order = xreallocarray(NULL, ts->n + 1, sizeof *order);
	for (i = 0; i < ts->n; i++)
		order[i] = i;
	for (e = 0; e < epochs; e++) {
		for (i = ts->n; i > 1; i--) {
			j = (size_t)(nlu_rand(&rs) % i);
			t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (t = 0; t < ts->n; t++) {
			const struct nlu_vec	*v = &ts->vec[order[t]];
			uint32_t		 y = ts->cls[order[t]];

			if (rest[order[t]] > 0) {
				rest[order[t]]--;
				continue;
			}
			nlu_scores(m, v, scale, p);
			nlu_softmax(p, m->nlabels);
			/* A learned example sits out the next epoch or two. */
			if (p[y] > NLU_REST)
				rest[order[t]] = 1 + (p[y] > 0.999f);
			gmax = 0;
			for (k = 0; k < m->nlabels; k++) {
				g[k] = (p[k] - (k == y ? 1.0f : 0.0f)) *
				    ts->cw[y];
				if (fabsf(g[k]) > gmax)
					gmax = fabsf(g[k]);
			}
			scale *= (float)(1.0 - eta * NLU_LAMBDA);
			if (scale < 1e-3f) {
				nlu_rescale(m, scale);
				scale = 1.0f;
			}
			if (gmax < 1e-4f)
				continue;
			for (k = 0; k < m->nlabels; k++)
				m->bias[k] -= eta * g[k] * NLU_BIAS_RATE;
			/* Most classes' gradients vanish once learned. */
			for (na = 0, k = 0; k < m->nlabels; k++) {
				if (fabsf(g[k]) >= 1e-5f)
					active[na++] = (uint32_t)k;
			}
			for (j = 0; j < v->n; j++) {
				step = -eta * v->val[j] / scale;
				row = m->w + (size_t)v->row[j] * m->kpad;
				if (na * 4 < m->kpad) {
					for (k = 0; k < na; k++)
						row[active[k]] += step *
						    g[active[k]];
					continue;
				}
				gv = (nlu_v4){ step, step, step, step };
				w = (nlu_v4 *)row;
				for (k = 0; k < nv; k++)
					w[k] += gv * ((const nlu_v4 *)g)[k];
			}
		}
	}
	nlu_rescale(m, scale);
	free(order);
	free(active);
	free(rest);
	free(g);
	free(p);
}

/*
 * Train a model from n examples.  Returns NULL with *cause (caller frees)
 * if there are no examples or fewer than two intents.
 */
struct nlu *
nlu_train(const struct nlu_example *ex, size_t n,
    const struct nlu_options *o, char **cause)
{
	struct nlu		*m;
	struct nlu_train_set	 ts;
	const char		*pattern = NLU_ORDER_PATTERN;
	char			 err[256];
	int			 r, epochs = 0;

	m = xcalloc(1, sizeof *m);
	m->min_confidence = NLU_MIN_CONFIDENCE_DEFAULT;
	if (o != NULL) {
		if (o->min_confidence > 0)
			m->min_confidence = o->min_confidence;
		if (o->order_pattern != NULL && *o->order_pattern != '\0') {
			pattern = o->order_pattern;
			m->order_custom = 1;
		}
		if (o->epochs > 0)
			epochs = o->epochs;
	}
	if ((r = regcomp(&m->order_re, pattern, REG_EXTENDED)) != 0) {
		regerror(r, &m->order_re, err, sizeof err);
		*cause = xasprintf("order pattern: %s", err);
		free(m);
		return (NULL);
	}
	nlu_labels(m, ex, n);
	if (m->nintents < 2) {
		*cause = xasprintf("%zu intent%s in the examples: at least two "
		    "are needed", m->nintents, m->nintents == 1 ? "" : "s");
		nlu_free(m);
		return (NULL);
	}
	nlu_prepare(m, ex, n, &ts);
	if (epochs == 0) {
		/* Small sets get more passes: they are cheap and need them. */
		epochs = (int)((NLU_STEPS + ts.n - 1) / (ts.n + 1));
		if (epochs < NLU_EPOCHS_MIN)
			epochs = NLU_EPOCHS_MIN;
		if (epochs > NLU_EPOCHS_MAX)
			epochs = NLU_EPOCHS_MAX;
	}
	nlu_fit(m, &ts, epochs);
	nlu_train_set_free(&ts);
	return (m);
}

/* Free a model. */
void
nlu_free(struct nlu *m)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	free(m->labels);
	free(m->intents);
	free(m->rowof);
	free(m->idf);
	free(m->w);
	free(m->bias);
	regfree(&m->order_re);
	free(m);
}

/* The intents the model knows (oos is not one). */
size_t
nlu_intents(const struct nlu *m, const char ***list)
{
	*list = m->intents;
	return (m->nintents);
}

/* The bytes the model's tables take. */
size_t
nlu_model_size(const struct nlu *m)
{
	return (sizeof *m + NLU_DIM * sizeof *m->rowof +
	    m->nrows * sizeof *m->idf +
	    (m->nrows * m->kpad + 8) * sizeof *m->w +
	    m->kpad * sizeof *m->bias);
}

/* The confidence under which the model answers out of scope. */
double
nlu_min_confidence(const struct nlu *m)
{
	return (m->min_confidence);
}

/* The intent decision for one text. */
struct nlu_decision {
	int	 best;		/* best in-scope class */
	double	 pbest;
	int	 second;	/* next in-scope class, or -1 */
	double	 psecond;
	int	 accepted;	/* best is the answer */
};

/* Score a text and decide, with threshold min. */
static void
nlu_decide(const struct nlu *m, const char *text, double min,
    struct nlu_decision *d)
{
	struct nlu_vec	 v;
	float		 stack[256], *p;
	char		*norm, *head;
	size_t		 k, known, len;
	int		 top = 0;

	p = m->kpad <= sizeof stack / sizeof stack[0] ? stack :
	    xreallocarray(NULL, m->kpad, sizeof *p);
	if ((len = strlen(text)) > NLU_TEXT_MAX) {
		/* Only the start is featurized: normalize no more. */
		len = NLU_TEXT_MAX;
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--;
		head = xstrndup(text, len);
		norm = nlu_normalize(head);
		free(head);
	} else
		norm = nlu_normalize(text);
	nlu_vectorize(m, norm, &v);
	free(norm);
	nlu_scores(m, &v, 1.0f, p);
	nlu_softmax(p, m->nlabels);
	known = v.n;
	free(v.row);
	free(v.val);

	d->best = d->second = -1;
	d->pbest = d->psecond = 0;
	for (k = 0; k < m->nlabels; k++) {
		if (p[k] > p[top])
			top = (int)k;
		if ((int)k == m->oos)
			continue;
		if (d->best < 0 || p[k] > d->pbest) {
			d->second = d->best;
			d->psecond = d->pbest;
			d->best = (int)k;
			d->pbest = p[k];
		} else if (d->second < 0 || p[k] > d->psecond) {
			d->second = (int)k;
			d->psecond = p[k];
		}
	}
	/* With no feature the model knows, only the priors would speak. */
	d->accepted = (known > 0 && top != m->oos && d->pbest >= min);
	if (p != stack)
		free(p);
}

/* ------------------------------------------------------------------------
 * Entities.
 */

/* Entities found so far, in the folded text's offsets. */
struct nlu_found {
	struct nlu_entity	*e;
	size_t			 n;
	size_t			 size;
};

/* Whether [s, e) of the folded text overlaps an entity already found. */
static int
nlu_taken(const struct nlu_found *fd, size_t s, size_t e)
{
	size_t	i;

	for (i = 0; i < fd->n; i++) {
		if (s < fd->e[i].start + fd->e[i].len && fd->e[i].start < e)
			return (1);
	}
	return (0);
}

/* Record an entity over [s, e) of the folded text; value is taken over. */
static void
nlu_found_add(struct nlu_found *fd, const char *type, size_t s, size_t e,
    char *value)
{
	if (fd->n == fd->size) {
		fd->size = fd->size == 0 ? 4 : fd->size * 2;
		fd->e = xreallocarray(fd->e, fd->size, sizeof *fd->e);
	}
	fd->e[fd->n].type = xstrdup(type);
	fd->e[fd->n].value = value;
	fd->e[fd->n].start = s;
	fd->e[fd->n].len = e - s;
	fd->n++;
}

/* ASCII character class tests on the folded text. */
static int
nlu_ascii_alnum(const struct nlu_fold *f, size_t i)
{
	return (i < f->len && (unsigned char)f->s[i] < 0x80 &&
	    isalnum((unsigned char)f->s[i]));
}

static int
nlu_digit(const struct nlu_fold *f, size_t i)
{
	return (i < f->len && f->s[i] >= '0' && f->s[i] <= '9');
}

/* Whether the folded text has word (case-insensitive ASCII) at i. */
static int
nlu_at(const struct nlu_fold *f, size_t i, const char *word)
{
	size_t	len = strlen(word);

	return (i + len <= f->len && strncasecmp(f->s + i, word, len) == 0);
}

/* Whether the 24 bytes before i mention an order. */
static int
nlu_order_context(const struct nlu_fold *f, size_t i)
{
	static const char	*words[] = { "order", "订单", "单号", "#",
	    "purchase", "tracking", "运单", "快递", "no.", NULL };
	size_t			 from = i > 24 ? i - 24 : 0, j, k;

	for (j = from; j < i; j++) {
		for (k = 0; words[k] != NULL; k++) {
			if (nlu_at(f, j, words[k]))
				return (1);
		}
	}
	return (0);
}

/* E-mail addresses: local@domain.tld. */
static void
nlu_find_email(const struct nlu_fold *f, struct nlu_found *fd)
{
	static const char	 local[] = "._%+-";
	size_t			 at, s, e, dot, i;
	char			*v;

	for (at = 1; at + 1 < f->len; at++) {
		if (f->s[at] != '@')
			continue;
		s = at;
		while (s > 0 && (nlu_ascii_alnum(f, s - 1) ||
		    (f->s[s - 1] != '\0' && strchr(local, f->s[s - 1]) !=
		    NULL)))
			s--;
		while (s < at && f->s[s] == '.')
			s++;
		e = at + 1;
		dot = 0;
		while (e < f->len && (nlu_ascii_alnum(f, e) || f->s[e] == '-' ||
		    (f->s[e] == '.' && nlu_ascii_alnum(f, e + 1)))) {
			if (f->s[e] == '.')
				dot = e;
			e++;
		}
		if (s == at || dot == 0 || e - dot < 3 || f->s[at + 1] == '.')
			continue;
		for (i = dot + 1; i < e; i++) {
			if (!isalpha((unsigned char)f->s[i]))
				break;
		}
		if (i != e || nlu_taken(fd, s, e))
			continue;
		v = xstrndup(f->s + s, e - s);
		for (i = 0; v[i] != '\0'; i++)
			v[i] = (char)tolower((unsigned char)v[i]);
		nlu_found_add(fd, "email", s, e, v);
	}
}

/* Read digits from i allowing single spaces or dashes between groups. */
static size_t
nlu_digit_run(const struct nlu_fold *f, size_t i, char *digits, size_t max,
    size_t *ndigits, int seps)
{
	size_t	n = 0;

	while (i < f->len) {
		if (nlu_digit(f, i)) {
			if (n < max)
				digits[n] = f->s[i];
			n++;
			i++;
		} else if (seps && (f->s[i] == ' ' || f->s[i] == '-') &&
		    n > 0 && nlu_digit(f, i + 1))
			i++;
		else
			break;
	}
	*ndigits = n;
	if (n < max)
		digits[n] = '\0';
	return (i);
}

/* Whether 11 digits are a Chinese mobile number. */
static int
nlu_cn_mobile(const char *d)
{
	return (d[0] == '1' && d[1] >= '3' && d[1] <= '9');
}

/* Phone numbers: Chinese mobiles (+86 optional) and +CC international. */
static void
nlu_find_phone(const struct nlu_fold *f, struct nlu_found *fd)
{
	char	d[32];
	size_t	i, e, nd, g1, g2;

	if (!f->digits)
		return;
	for (i = 0; i < f->len; i++) {
		if (i > 0 && (nlu_ascii_alnum(f, i - 1) || f->s[i - 1] == '+'))
			continue;
		if (f->s[i] == '+' && nlu_digit(f, i + 1)) {
			e = nlu_digit_run(f, i + 1, d, sizeof d, &nd, 1);
			if (nd < 8 || nd > 15 || nlu_ascii_alnum(f, e) ||
			    nlu_taken(fd, i, e))
				continue;
			if (nd == 13 && strncmp(d, "86", 2) == 0 &&
			    nlu_cn_mobile(d + 2))
				nlu_found_add(fd, "phone", i, e,
				    xstrdup(d + 2));
			else
				nlu_found_add(fd, "phone", i, e, xstrdup(d));
			i = e - 1;
			continue;
		}
		if (!nlu_digit(f, i))
			continue;
		/* 13800138000, 8613800138000, 138 0013 8000, 138-0013-8000 */
		e = nlu_digit_run(f, i, d, sizeof d, &nd, 0);
		if (nd == 3 && (f->s[e] == ' ' || f->s[e] == '-') &&
		    nlu_digit(f, e + 1)) {
			g1 = e + 1;
			e = nlu_digit_run(f, g1, d + 3, sizeof d - 3, &nd, 0);
			if (nd == 4 && f->s[e] == f->s[g1 - 1] &&
			    nlu_digit(f, e + 1)) {
				g2 = e + 1;
				e = nlu_digit_run(f, g2, d + 7, sizeof d - 7,
				    &nd, 0);
				nd = nd == 4 ? 11 : 0;
			} else
				nd = 0;
		}
		if (nd == 13 && strncmp(d, "86", 2) == 0 &&
		    nlu_cn_mobile(d + 2)) {
			memmove(d, d + 2, 12);
			nd = 11;
		}
		if (nd != 11 || !nlu_cn_mobile(d) || nlu_ascii_alnum(f, e) ||
		    nlu_order_context(f, i) || nlu_taken(fd, i, e)) {
			while (i + 1 < f->len && nlu_digit(f, i + 1))
				i++;
			continue;
		}
		d[11] = '\0';
		nlu_found_add(fd, "phone", i, e, xstrdup(d));
		i = e - 1;
	}
}

/* A number at i (1,234.50 or 1234.5); returns its end, or i if none. */
static size_t
nlu_number(const struct nlu_fold *f, size_t i, char *out, size_t max)
{
	size_t	e = i, n = 0, g;

	if (!nlu_digit(f, i) || (i > 0 && (nlu_ascii_alnum(f, i - 1) ||
	    f->s[i - 1] == '.')))
		return (i);
	while (nlu_digit(f, e)) {
		if (n + 1 < max)
			out[n++] = f->s[e];
		e++;
	}
	while (f->s[e] == ',' && nlu_digit(f, e + 1) && nlu_digit(f, e + 2) &&
	    nlu_digit(f, e + 3) && !nlu_digit(f, e + 4)) {
		for (g = e + 1; g < e + 4; g++) {
			if (n + 1 < max)
				out[n++] = f->s[g];
		}
		e += 4;
	}
	if (f->s[e] == '.' && nlu_digit(f, e + 1)) {
		if (n + 1 < max)
			out[n++] = '.';
		e++;
		while (nlu_digit(f, e)) {
			if (n + 1 < max)
				out[n++] = f->s[e];
			e++;
		}
	}
	out[n] = '\0';
	return (e);
}

/* Currency markers, written before a number, after it, or either way. */
#define NLU_CUR_PRE	1
#define NLU_CUR_POST	2
#define NLU_CUR_WORD	4		/* needs a word boundary */
static const struct {
	const char	*mark;
	const char	*code;
	int		 flags;
} nlu_currencies[] = {
	{ "人民币", "CNY", NLU_CUR_POST }, { "块钱", "CNY", NLU_CUR_POST },
	{ "元", "CNY", NLU_CUR_POST }, { "块", "CNY", NLU_CUR_POST },
	{ "美元", "USD", NLU_CUR_POST }, { "美金", "USD", NLU_CUR_POST },
	{ "欧元", "EUR", NLU_CUR_POST },
	{ "\xc2\xa5", "CNY", NLU_CUR_PRE | NLU_CUR_POST },	/* ¥ */
	{ "$", "USD", NLU_CUR_PRE | NLU_CUR_POST },
	{ "\xe2\x82\xac", "EUR", NLU_CUR_PRE | NLU_CUR_POST },	/* € */
	{ "\xc2\xa3", "GBP", NLU_CUR_PRE },			/* £ */
	{ "us$", "USD", NLU_CUR_PRE | NLU_CUR_WORD },
	{ "rmb", "CNY", NLU_CUR_PRE | NLU_CUR_POST | NLU_CUR_WORD },
	{ "cny", "CNY", NLU_CUR_PRE | NLU_CUR_POST | NLU_CUR_WORD },
	{ "usd", "USD", NLU_CUR_PRE | NLU_CUR_POST | NLU_CUR_WORD },
	{ "eur", "EUR", NLU_CUR_PRE | NLU_CUR_POST | NLU_CUR_WORD },
	{ "gbp", "GBP", NLU_CUR_PRE | NLU_CUR_POST | NLU_CUR_WORD },
	{ "yuan", "CNY", NLU_CUR_POST | NLU_CUR_WORD },
	{ "dollars", "USD", NLU_CUR_POST | NLU_CUR_WORD },
	{ "dollar", "USD", NLU_CUR_POST | NLU_CUR_WORD },
	{ "bucks", "USD", NLU_CUR_POST | NLU_CUR_WORD },
	{ "euros", "EUR", NLU_CUR_POST | NLU_CUR_WORD },
	{ "euro", "EUR", NLU_CUR_POST | NLU_CUR_WORD },
};

/* The currency marker at i (where: NLU_CUR_PRE or _POST), or 0. */
static size_t
nlu_currency(const struct nlu_fold *f, size_t i, int where,
    const char **code)
{
	size_t	k, len;
	int	fl;

	for (k = 0; k < sizeof nlu_currencies / sizeof nlu_currencies[0];
	    k++) {
		fl = nlu_currencies[k].flags;
		if ((fl & where) == 0 || tolower((unsigned char)f->s[i]) !=
		    (unsigned char)nlu_currencies[k].mark[0])
			continue;
		len = strlen(nlu_currencies[k].mark);
		if (!nlu_at(f, i, nlu_currencies[k].mark))
			continue;
		if ((fl & NLU_CUR_WORD) && ((i > 0 &&
		    isalpha((unsigned char)f->s[i - 1])) ||
		    isalpha((unsigned char)f->s[i + len])))
			continue;
		*code = nlu_currencies[k].code;
		return (len);
	}
	return (0);
}

/* Amounts: ¥199, $20.50, 99元, 100 RMB, USD 30. */
static void
nlu_find_amount(const struct nlu_fold *f, struct nlu_found *fd)
{
	const char	*code;
	char		 num[64];
	size_t		 i, j, e, cl, s;

	if (!f->digits)
		return;
	for (i = 0; i < f->len; i++) {
		if ((cl = nlu_currency(f, i, NLU_CUR_PRE, &code)) > 0 &&
		    (i == 0 || !nlu_digit(f, i - 1))) {
			j = i + cl;
			while (f->s[j] == ' ')
				j++;
			if ((e = nlu_number(f, j, num, sizeof num)) > j &&
			    !nlu_taken(fd, i, e)) {
				nlu_found_add(fd, "amount", i, e,
				    xasprintf("%s %s", num, code));
				i = e - 1;
				continue;
			}
		}
		if ((e = nlu_number(f, i, num, sizeof num)) == i)
			continue;
		s = i;
		j = e;
		while (f->s[j] == ' ')
			j++;
		if ((cl = nlu_currency(f, j, NLU_CUR_POST, &code)) > 0 &&
		    !nlu_taken(fd, s, j + cl)) {
			nlu_found_add(fd, "amount", s, j + cl,
			    xasprintf("%s %s", num, code));
			i = j + cl - 1;
			continue;
		}
		i = e - 1;
	}
}

/* Read 1-4 digits at *i into *v; returns the count. */
static size_t
nlu_int(const struct nlu_fold *f, size_t *i, size_t max, int *v)
{
	size_t	n = 0;

	*v = 0;
	while (n < max && nlu_digit(f, *i)) {
		*v = *v * 10 + (f->s[*i] - '0');
		(*i)++;
		n++;
	}
	if (nlu_digit(f, *i))
		return (0);
	return (n);
}

/* Relative date words and their day offsets. */
static const struct {
	const char	*word;
	const char	*value;
	int		 latin;
} nlu_relative[] = {
	{ "day after tomorrow", "+2d", 1 },
	{ "day before yesterday", "-2d", 1 },
	{ "today", "+0d", 1 }, { "tonight", "+0d", 1 },
	{ "tomorrow", "+1d", 1 }, { "yesterday", "-1d", 1 },
	{ "大后天", "+3d", 0 }, { "大前天", "-3d", 0 },
	{ "今天", "+0d", 0 }, { "今日", "+0d", 0 }, { "今晚", "+0d", 0 },
	{ "明天", "+1d", 0 }, { "明日", "+1d", 0 }, { "后天", "+2d", 0 },
	{ "昨天", "-1d", 0 }, { "昨日", "-1d", 0 }, { "前天", "-2d", 0 },
};

/* Dates: 2026-11-25, 2026年11月25日, 11月25日, 11/25, tomorrow, 明天. */
static void
nlu_find_date(const struct nlu_fold *f, struct nlu_found *fd)
{
	size_t	i, j, k, len;
	int	y, mo, d, t;
	char	sep;

	for (i = 0; i < f->len; i++) {
		for (k = 0; k < sizeof nlu_relative / sizeof nlu_relative[0];
		    k++) {
			if (tolower((unsigned char)f->s[i]) !=
			    (unsigned char)nlu_relative[k].word[0])
				continue;
			len = strlen(nlu_relative[k].word);
			if (!nlu_at(f, i, nlu_relative[k].word))
				continue;
			if (nlu_relative[k].latin && ((i > 0 &&
			    nlu_ascii_alnum(f, i - 1)) ||
			    nlu_ascii_alnum(f, i + len)))
				continue;
			if (!nlu_taken(fd, i, i + len))
				nlu_found_add(fd, "date", i, i + len,
				    xstrdup(nlu_relative[k].value));
			i += len - 1;
			break;
		}
		if (k < sizeof nlu_relative / sizeof nlu_relative[0])
			continue;
		if (!f->digits || !nlu_digit(f, i) ||
		    (i > 0 && (nlu_ascii_alnum(f, i - 1) ||
		    f->s[i - 1] == '/' || f->s[i - 1] == '.' ||
		    f->s[i - 1] == '-')))
			continue;
		j = i;
		y = -1;
		if (nlu_int(f, &j, 4, &t) == 4) {
			/* 2026-11-25, 2026/11/25, 2026.11.25, 2026年11月25日 */
			y = t;
			if (nlu_at(f, j, "年"))
				j += strlen("年");
			else if (f->s[j] == '-' || f->s[j] == '/' ||
			    f->s[j] == '.') {
				sep = f->s[j++];
				if (nlu_int(f, &j, 2, &mo) == 0 ||
				    f->s[j] != sep)
					continue;
				j++;
				if (nlu_int(f, &j, 2, &d) == 0 ||
				    nlu_ascii_alnum(f, j))
					continue;
				goto found;
			} else
				continue;
		} else
			j = i;
		if (nlu_int(f, &j, 2, &mo) == 0)
			continue;
		if (nlu_at(f, j, "月")) {
			j += strlen("月");
			if (nlu_int(f, &j, 2, &d) == 0)
				continue;
			if (nlu_at(f, j, "日"))
				j += strlen("日");
			else if (nlu_at(f, j, "号"))
				j += strlen("号");
			goto found;
		}
		if (y != -1 || f->s[j] != '/')
			continue;
		j++;
		if (nlu_int(f, &j, 2, &d) == 0 || f->s[j] == '/' ||
		    nlu_ascii_alnum(f, j) || (f->s[j] == '.' &&
		    nlu_digit(f, j + 1)))
			continue;
		if (mo > 12 && d <= 12) {
			t = mo;
			mo = d;
			d = t;
		}
found:
		if (mo < 1 || mo > 12 || d < 1 || d > 31 ||
		    nlu_taken(fd, i, j))
			continue;
		if (y >= 0)
			nlu_found_add(fd, "date", i, j,
			    xasprintf("%04d-%02d-%02d", y, mo, d));
		else
			nlu_found_add(fd, "date", i, j,
			    xasprintf("--%02d-%02d", mo, d));
		i = j - 1;
	}
}

/* Order numbers: the configured pattern, bounded by non-alphanumerics. */
static void
nlu_find_order(const struct nlu *m, const struct nlu_fold *f,
    struct nlu_found *fd)
{
	regmatch_t	 rm;
	size_t		 i = 0, s, e, k;
	char		*v;
	int		 flags;

	if (!m->order_custom && !f->digits)
		return;
	while (i < f->len) {
		flags = i > 0 ? REG_NOTBOL : 0;
		if (regexec(&m->order_re, f->s + i, 1, &rm, flags) != 0)
			break;
		s = i + (size_t)rm.rm_so;
		e = i + (size_t)rm.rm_eo;
		if (e == s || (s > 0 && nlu_ascii_alnum(f, s - 1)) ||
		    nlu_ascii_alnum(f, e) || nlu_taken(fd, s, e)) {
			i = s + 1;
			while (i < f->len && (f->s[i] & 0xc0) == 0x80)
				i++;
			continue;
		}
		v = xstrndup(f->s + s, e - s);
		for (k = 0; v[k] != '\0'; k++)
			v[k] = (char)toupper((unsigned char)v[k]);
		nlu_found_add(fd, "order_id", s, e, v);
		i = e;
	}
}

/* Compare entities by start offset. */
static int
nlu_entity_cmp(const void *a, const void *b)
{
	const struct nlu_entity	*x = a, *y = b;

	if (x->start != y->start)
		return (x->start < y->start ? -1 : 1);
	return (0);
}

/* Find the entities of a folded text; offsets are into the original. */
static void
nlu_entities(const struct nlu *m, const struct nlu_fold *f,
    struct nlu_result *r)
{
	struct nlu_found	fd;
	size_t			i, s, e;

	memset(&fd, 0, sizeof fd);
	nlu_find_email(f, &fd);
	nlu_find_phone(f, &fd);
	nlu_find_amount(f, &fd);
	nlu_find_date(f, &fd);
	nlu_find_order(m, f, &fd);
	for (i = 0; i < fd.n; i++) {
		s = f->map[fd.e[i].start];
		e = f->map[fd.e[i].start + fd.e[i].len];
		fd.e[i].start = s;
		fd.e[i].len = e - s;
	}
	if (fd.n > 1)
		qsort(fd.e, fd.n, sizeof *fd.e, nlu_entity_cmp);
	r->entities = fd.e;
	r->nentities = fd.n;
}

/* ------------------------------------------------------------------------
 * Sentiment.
 */

enum nlu_lex_kind {
	NLU_WORD,		/* a sentiment value */
	NLU_WORD_KEEP,		/* a value negation does not flip (refund) */
	NLU_NEG,		/* a negation; value multiplies the result */
	NLU_INT,		/* an intensifier or a softener */
	NLU_BUT,		/* what follows counts more */
	NLU_ATALL,		/* strengthens a negation before it */
	NLU_HAO,		/* 好: an intensifier before a sentiment word */
	NLU_NONE		/* a set phrase with no sentiment (不好意思) */
};

struct nlu_lex {
	const char		*word;
	float			 v;
	enum nlu_lex_kind	 kind;
};

/*
 * The lexicon: e-commerce flavoured, values on VADER's -4..4 scale,
 * intensifiers as multipliers.  Two-word English phrases have one space.
 */
static const struct nlu_lex nlu_lexicon[] = {
	/* English, positive */
	{ "good", 1.9f, NLU_WORD }, { "great", 3.1f, NLU_WORD },
	{ "excellent", 3.2f, NLU_WORD }, { "amazing", 2.8f, NLU_WORD },
	{ "awesome", 3.1f, NLU_WORD }, { "fantastic", 3.0f, NLU_WORD },
	{ "wonderful", 2.9f, NLU_WORD }, { "perfect", 2.8f, NLU_WORD },
	{ "best", 3.0f, NLU_WORD }, { "better", 1.9f, NLU_WORD },
	{ "love", 3.2f, NLU_WORD }, { "loved", 3.0f, NLU_WORD },
	{ "loving", 2.8f, NLU_WORD }, { "lovely", 2.8f, NLU_WORD },
	{ "happy", 2.7f, NLU_WORD }, { "glad", 2.0f, NLU_WORD },
	{ "pleased", 2.2f, NLU_WORD }, { "satisfied", 2.0f, NLU_WORD },
	{ "satisfying", 2.0f, NLU_WORD }, { "nice", 1.8f, NLU_WORD },
	{ "fine", 0.8f, NLU_WORD }, { "ok", 0.5f, NLU_WORD },
	{ "okay", 0.5f, NLU_WORD }, { "cool", 1.3f, NLU_WORD },
	{ "fast", 1.2f, NLU_WORD }, { "quick", 1.2f, NLU_WORD },
	{ "quickly", 1.0f, NLU_WORD }, { "speedy", 1.4f, NLU_WORD },
	{ "prompt", 1.2f, NLU_WORD }, { "helpful", 1.9f, NLU_WORD },
	{ "friendly", 1.8f, NLU_WORD }, { "polite", 1.6f, NLU_WORD },
	{ "recommend", 1.6f, NLU_WORD }, { "recommended", 1.6f, NLU_WORD },
	{ "appreciate", 1.8f, NLU_WORD }, { "appreciated", 1.8f, NLU_WORD },
	{ "thanks", 1.5f, NLU_WORD }, { "thank", 1.5f, NLU_WORD },
	{ "thx", 1.3f, NLU_WORD }, { "grateful", 2.0f, NLU_WORD },
	{ "reliable", 1.6f, NLU_WORD }, { "smooth", 1.2f, NLU_WORD },
	{ "easy", 1.2f, NLU_WORD }, { "convenient", 1.4f, NLU_WORD },
	{ "worth", 1.2f, NLU_WORD }, { "solved", 1.5f, NLU_WORD },
	{ "resolved", 1.5f, NLU_WORD }, { "fixed", 1.2f, NLU_WORD },
	{ "beautiful", 2.5f, NLU_WORD }, { "gorgeous", 2.8f, NLU_WORD },
	{ "impressed", 2.3f, NLU_WORD }, { "impressive", 2.3f, NLU_WORD },
	{ "superb", 3.0f, NLU_WORD }, { "brilliant", 2.8f, NLU_WORD },
	{ "outstanding", 3.0f, NLU_WORD }, { "exceptional", 2.9f, NLU_WORD },
	{ "delighted", 3.0f, NLU_WORD }, { "enjoy", 2.0f, NLU_WORD },
	{ "enjoyed", 2.0f, NLU_WORD }, { "correct", 1.0f, NLU_WORD },
	{ "accurate", 1.2f, NLU_WORD }, { "genuine", 1.4f, NLU_WORD },
	{ "authentic", 1.4f, NLU_WORD }, { "affordable", 1.3f, NLU_WORD },
	{ "yay", 2.4f, NLU_WORD }, { "wow", 1.5f, NLU_WORD },
	{ "excited", 2.2f, NLU_WORD }, { "comfortable", 1.6f, NLU_WORD },
	{ "sturdy", 1.4f, NLU_WORD }, { "professional", 1.5f, NLU_WORD },
	{ "patient", 1.4f, NLU_WORD }, { "no problem", 1.2f, NLU_WORD },
	{ "well done", 2.2f, NLU_WORD }, { "thank you", 1.5f, NLU_WORD },
	{ "good job", 2.4f, NLU_WORD },
	/* English, negative */
	{ "bad", -2.5f, NLU_WORD }, { "terrible", -3.0f, NLU_WORD },
	{ "awful", -3.0f, NLU_WORD }, { "horrible", -3.0f, NLU_WORD },
	{ "worst", -3.1f, NLU_WORD }, { "worse", -2.3f, NLU_WORD },
	{ "poor", -2.1f, NLU_WORD }, { "poorly", -2.0f, NLU_WORD },
	{ "broken", -2.0f, NLU_WORD }, { "broke", -1.8f, NLU_WORD },
	{ "damaged", -2.0f, NLU_WORD }, { "defective", -2.2f, NLU_WORD },
	{ "faulty", -2.2f, NLU_WORD }, { "cracked", -1.8f, NLU_WORD },
	{ "scratched", -1.6f, NLU_WORD }, { "dirty", -1.8f, NLU_WORD },
	{ "late", -1.2f, NLU_WORD }, { "slow", -1.4f, NLU_WORD },
	{ "slowly", -1.2f, NLU_WORD }, { "delayed", -1.3f, NLU_WORD },
	{ "delay", -1.3f, NLU_WORD }, { "missing", -1.4f, NLU_WORD },
	{ "lost", -1.5f, NLU_WORD }, { "wrong", -1.6f, NLU_WORD },
	{ "incorrect", -1.5f, NLU_WORD }, { "refund", -1.0f, NLU_WORD_KEEP },
	{ "refunds", -1.0f, NLU_WORD_KEEP }, { "scam", -3.2f, NLU_WORD },
	{ "scammed", -3.2f, NLU_WORD }, { "scammer", -3.2f, NLU_WORD },
	{ "scammers", -3.2f, NLU_WORD }, { "fraud", -3.2f, NLU_WORD },
	{ "fraudulent", -3.2f, NLU_WORD }, { "fake", -2.3f, NLU_WORD },
	{ "cheated", -2.8f, NLU_WORD }, { "cheat", -2.6f, NLU_WORD },
	{ "liar", -2.8f, NLU_WORD }, { "liars", -2.8f, NLU_WORD },
	{ "lied", -2.4f, NLU_WORD }, { "stole", -2.6f, NLU_WORD },
	{ "angry", -2.6f, NLU_WORD }, { "mad", -2.2f, NLU_WORD },
	{ "furious", -3.2f, NLU_WORD }, { "upset", -2.2f, NLU_WORD },
	{ "disappointed", -2.3f, NLU_WORD },
	{ "disappointing", -2.3f, NLU_WORD },
	{ "disappointment", -2.3f, NLU_WORD }, { "unhappy", -2.3f, NLU_WORD },
	{ "sad", -2.0f, NLU_WORD }, { "annoyed", -2.0f, NLU_WORD },
	{ "annoying", -2.0f, NLU_WORD }, { "frustrated", -2.3f, NLU_WORD },
	{ "frustrating", -2.3f, NLU_WORD }, { "useless", -2.5f, NLU_WORD },
	{ "rubbish", -2.5f, NLU_WORD }, { "garbage", -2.6f, NLU_WORD },
	{ "trash", -2.4f, NLU_WORD }, { "junk", -2.4f, NLU_WORD },
	{ "crap", -2.6f, NLU_WORD }, { "shit", -2.8f, NLU_WORD },
	{ "sucks", -2.5f, NLU_WORD }, { "suck", -2.3f, NLU_WORD },
	{ "hate", -2.9f, NLU_WORD }, { "hated", -2.8f, NLU_WORD },
	{ "problem", -1.2f, NLU_WORD }, { "problems", -1.2f, NLU_WORD },
	{ "issue", -1.0f, NLU_WORD }, { "issues", -1.0f, NLU_WORD },
	{ "complaint", -1.8f, NLU_WORD_KEEP },
	{ "complain", -1.8f, NLU_WORD_KEEP }, { "ridiculous", -2.2f, NLU_WORD },
	{ "unacceptable", -2.6f, NLU_WORD }, { "rude", -2.4f, NLU_WORD },
	{ "unprofessional", -2.3f, NLU_WORD }, { "waste", -2.2f, NLU_WORD },
	{ "wasted", -2.2f, NLU_WORD }, { "expensive", -1.0f, NLU_WORD },
	{ "overpriced", -1.8f, NLU_WORD }, { "overcharged", -2.2f, NLU_WORD },
	{ "failed", -1.8f, NLU_WORD }, { "fail", -1.8f, NLU_WORD },
	{ "failure", -2.0f, NLU_WORD }, { "error", -1.2f, NLU_WORD },
	{ "stuck", -1.3f, NLU_WORD }, { "nightmare", -2.8f, NLU_WORD },
	{ "disaster", -2.9f, NLU_WORD }, { "pathetic", -2.7f, NLU_WORD },
	{ "incompetent", -2.6f, NLU_WORD }, { "ignored", -2.0f, NLU_WORD },
	{ "unresponsive", -2.0f, NLU_WORD }, { "misleading", -2.2f, NLU_WORD },
	{ "ripoff", -2.8f, NLU_WORD }, { "rip off", -2.8f, NLU_WORD },
	{ "ripped off", -2.8f, NLU_WORD }, { "worried", -1.5f, NLU_WORD },
	{ "confused", -1.2f, NLU_WORD }, { "disgusting", -3.0f, NLU_WORD },
	{ "horrendous", -3.2f, NLU_WORD }, { "mess", -1.8f, NLU_WORD },
	/* English, negation, intensity, contrast */
	{ "not", 1.0f, NLU_NEG }, { "no", 1.0f, NLU_NEG },
	{ "never", 1.1f, NLU_NEG }, { "nothing", 1.0f, NLU_NEG },
	{ "none", 1.0f, NLU_NEG }, { "nobody", 1.0f, NLU_NEG },
	{ "neither", 1.0f, NLU_NEG }, { "nor", 1.0f, NLU_NEG },
	{ "without", 1.0f, NLU_NEG }, { "hardly", 0.8f, NLU_NEG },
	{ "barely", 0.8f, NLU_NEG }, { "cannot", 1.0f, NLU_NEG },
	{ "dont", 1.0f, NLU_NEG }, { "doesnt", 1.0f, NLU_NEG },
	{ "didnt", 1.0f, NLU_NEG }, { "isnt", 1.0f, NLU_NEG },
	{ "wasnt", 1.0f, NLU_NEG }, { "arent", 1.0f, NLU_NEG },
	{ "werent", 1.0f, NLU_NEG }, { "cant", 1.0f, NLU_NEG },
	{ "wont", 1.0f, NLU_NEG }, { "couldnt", 1.0f, NLU_NEG },
	{ "wouldnt", 1.0f, NLU_NEG }, { "shouldnt", 1.0f, NLU_NEG },
	{ "havent", 1.0f, NLU_NEG }, { "hasnt", 1.0f, NLU_NEG },
	{ "aint", 1.0f, NLU_NEG }, { "lack", 1.0f, NLU_NEG },
	{ "very", 1.4f, NLU_INT }, { "really", 1.3f, NLU_INT },
	{ "extremely", 1.8f, NLU_INT }, { "so", 1.3f, NLU_INT },
	{ "super", 1.5f, NLU_INT }, { "too", 1.3f, NLU_INT },
	{ "totally", 1.5f, NLU_INT }, { "absolutely", 1.6f, NLU_INT },
	{ "completely", 1.5f, NLU_INT }, { "incredibly", 1.7f, NLU_INT },
	{ "highly", 1.4f, NLU_INT }, { "truly", 1.3f, NLU_INT },
	{ "quite", 1.1f, NLU_INT }, { "pretty", 1.1f, NLU_INT },
	{ "most", 1.3f, NLU_INT }, { "such", 1.2f, NLU_INT },
	{ "especially", 1.3f, NLU_INT }, { "utterly", 1.7f, NLU_INT },
	{ "seriously", 1.4f, NLU_INT }, { "terribly", 1.5f, NLU_INT },
	{ "insanely", 1.6f, NLU_INT }, { "slightly", 0.6f, NLU_INT },
	{ "somewhat", 0.7f, NLU_INT }, { "fairly", 0.9f, NLU_INT },
	{ "rather", 0.9f, NLU_INT }, { "kinda", 0.7f, NLU_INT },
	{ "a bit", 0.6f, NLU_INT }, { "a little", 0.6f, NLU_INT },
	{ "kind of", 0.7f, NLU_INT }, { "sort of", 0.7f, NLU_INT },
	{ "but", 1.0f, NLU_BUT }, { "however", 1.0f, NLU_BUT },
	{ "at all", 1.3f, NLU_ATALL }, { "whatsoever", 1.3f, NLU_ATALL },

	/* Chinese, positive */
	{ "好", 1.9f, NLU_HAO }, { "满意", 2.2f, NLU_WORD },
	{ "好评", 2.6f, NLU_WORD }, { "不错", 1.9f, NLU_WORD },
	{ "喜欢", 2.2f, NLU_WORD }, { "推荐", 1.6f, NLU_WORD },
	{ "快", 1.0f, NLU_WORD }, { "及时", 1.4f, NLU_WORD },
	{ "迅速", 1.4f, NLU_WORD }, { "完美", 2.8f, NLU_WORD },
	{ "棒", 2.6f, NLU_WORD }, { "赞", 2.4f, NLU_WORD },
	{ "点赞", 2.4f, NLU_WORD }, { "优秀", 2.6f, NLU_WORD },
	{ "感谢", 1.8f, NLU_WORD }, { "谢谢", 1.5f, NLU_WORD },
	{ "多谢", 1.5f, NLU_WORD }, { "开心", 2.3f, NLU_WORD },
	{ "高兴", 2.3f, NLU_WORD }, { "方便", 1.3f, NLU_WORD },
	{ "划算", 1.8f, NLU_WORD }, { "实惠", 1.6f, NLU_WORD },
	{ "值得", 1.5f, NLU_WORD }, { "给力", 2.4f, NLU_WORD },
	{ "靠谱", 2.0f, NLU_WORD }, { "贴心", 2.2f, NLU_WORD },
	{ "耐心", 1.6f, NLU_WORD }, { "专业", 1.5f, NLU_WORD },
	{ "正品", 1.4f, NLU_WORD }, { "精美", 2.0f, NLU_WORD },
	{ "漂亮", 2.0f, NLU_WORD }, { "好看", 2.0f, NLU_WORD },
	{ "舒服", 1.8f, NLU_WORD }, { "好用", 2.0f, NLU_WORD },
	{ "完好", 1.5f, NLU_WORD }, { "新鲜", 1.5f, NLU_WORD },
	{ "物美价廉", 2.6f, NLU_WORD }, { "五星", 2.5f, NLU_WORD },
	{ "没问题", 1.2f, NLU_WORD }, { "解决了", 1.5f, NLU_WORD },
	{ "满分", 2.6f, NLU_WORD }, { "惊喜", 2.4f, NLU_WORD },
	{ "放心", 1.6f, NLU_WORD }, { "周到", 1.8f, NLU_WORD },
	{ "热情", 1.8f, NLU_WORD }, { "友好", 1.8f, NLU_WORD },
	{ "流畅", 1.4f, NLU_WORD }, { "结实", 1.4f, NLU_WORD },
	{ "便宜", 0.8f, NLU_WORD }, { "喜爱", 2.2f, NLU_WORD },
	{ "可爱", 2.0f, NLU_WORD }, { "顺利", 1.5f, NLU_WORD },
	{ "准时", 1.4f, NLU_WORD }, { "快速", 1.2f, NLU_WORD },
	{ "超值", 2.2f, NLU_WORD }, { "良心", 1.8f, NLU_WORD },
	{ "诚信", 1.8f, NLU_WORD }, { "厉害", 1.8f, NLU_WORD },
	{ "好吃", 2.0f, NLU_WORD }, { "感恩", 1.8f, NLU_WORD },
	{ "辛苦了", 1.2f, NLU_WORD }, { "好的", 0.4f, NLU_WORD },
	{ "质量好", 2.2f, NLU_WORD }, { "性价比高", 2.2f, NLU_WORD },
	/* Chinese, negative */
	{ "差", -2.3f, NLU_WORD }, { "差评", -2.8f, NLU_WORD },
	{ "垃圾", -3.0f, NLU_WORD }, { "骗子", -3.2f, NLU_WORD },
	{ "骗", -2.6f, NLU_WORD }, { "欺骗", -3.0f, NLU_WORD },
	{ "诈骗", -3.2f, NLU_WORD }, { "骗钱", -3.0f, NLU_WORD },
	{ "慢", -1.4f, NLU_WORD }, { "破损", -2.2f, NLU_WORD },
	{ "破", -1.2f, NLU_WORD }, { "坏", -2.0f, NLU_WORD },
	{ "损坏", -2.2f, NLU_WORD }, { "退款", -1.0f, NLU_WORD_KEEP },
	{ "退货", -0.8f, NLU_WORD_KEEP }, { "退钱", -1.5f, NLU_WORD_KEEP },
	{ "投诉", -2.0f, NLU_WORD_KEEP }, { "赔偿", -1.2f, NLU_WORD_KEEP },
	{ "失望", -2.4f, NLU_WORD }, { "生气", -2.5f, NLU_WORD },
	{ "愤怒", -2.9f, NLU_WORD }, { "糟糕", -2.6f, NLU_WORD },
	{ "烂", -2.5f, NLU_WORD }, { "假货", -2.8f, NLU_WORD },
	{ "山寨", -2.2f, NLU_WORD }, { "难用", -2.0f, NLU_WORD },
	{ "难吃", -2.0f, NLU_WORD }, { "难看", -1.8f, NLU_WORD },
	{ "麻烦", -1.3f, NLU_WORD }, { "问题", -1.0f, NLU_WORD },
	{ "延迟", -1.3f, NLU_WORD }, { "丢失", -1.8f, NLU_WORD },
	{ "丢件", -2.0f, NLU_WORD }, { "错", -1.5f, NLU_WORD },
	{ "发错", -2.0f, NLU_WORD }, { "漏发", -1.8f, NLU_WORD },
	{ "少发", -1.8f, NLU_WORD }, { "贵", -1.0f, NLU_WORD },
	{ "坑", -2.2f, NLU_WORD }, { "坑人", -2.6f, NLU_WORD },
	{ "忽悠", -2.4f, NLU_WORD }, { "无语", -1.8f, NLU_WORD },
	{ "恶心", -2.6f, NLU_WORD }, { "后悔", -2.2f, NLU_WORD },
	{ "不满", -2.2f, NLU_WORD }, { "不满意", -2.2f, NLU_WORD },
	{ "烦", -1.8f, NLU_WORD }, { "敷衍", -2.2f, NLU_WORD },
	{ "气死", -2.8f, NLU_WORD }, { "不值", -1.8f, NLU_WORD },
	{ "脏", -1.8f, NLU_WORD }, { "臭", -1.8f, NLU_WORD },
	{ "劣质", -2.5f, NLU_WORD }, { "残次品", -2.4f, NLU_WORD },
	{ "瑕疵", -1.6f, NLU_WORD }, { "没收到", -1.6f, NLU_WORD },
	{ "还没到", -1.2f, NLU_WORD }, { "没发货", -1.4f, NLU_WORD },
	{ "不发货", -1.6f, NLU_WORD }, { "拖延", -1.8f, NLU_WORD },
	{ "差劲", -2.6f, NLU_WORD }, { "离谱", -2.2f, NLU_WORD },
	{ "过分", -2.0f, NLU_WORD }, { "欺诈", -3.2f, NLU_WORD },
	{ "黑心", -2.8f, NLU_WORD }, { "无良", -2.8f, NLU_WORD },
	{ "可恶", -2.6f, NLU_WORD }, { "讨厌", -2.4f, NLU_WORD },
	{ "郁闷", -2.0f, NLU_WORD }, { "着急", -1.2f, NLU_WORD },
	{ "担心", -1.2f, NLU_WORD }, { "不爽", -2.2f, NLU_WORD },
	{ "卡顿", -1.6f, NLU_WORD }, { "故障", -1.8f, NLU_WORD },
	{ "毛病", -1.6f, NLU_WORD }, { "心累", -2.0f, NLU_WORD },
	{ "崩溃", -2.4f, NLU_WORD }, { "不行", -1.8f, NLU_WORD },
	{ "没用", -2.0f, NLU_WORD }, { "耽误", -1.6f, NLU_WORD },
	{ "浪费", -2.0f, NLU_WORD }, { "霸王条款", -2.6f, NLU_WORD },
	{ "态度差", -2.6f, NLU_WORD }, { "质量差", -2.6f, NLU_WORD },
	{ "假的", -2.0f, NLU_WORD }, { "上当", -2.6f, NLU_WORD },
	/* Chinese, negation, intensity, contrast */
	{ "不", 1.0f, NLU_NEG }, { "没", 1.0f, NLU_NEG },
	{ "没有", 1.0f, NLU_NEG }, { "无", 1.0f, NLU_NEG },
	{ "未", 1.0f, NLU_NEG }, { "别", 1.0f, NLU_NEG },
	{ "非", 1.0f, NLU_NEG }, { "不是", 1.0f, NLU_NEG },
	{ "并不", 1.1f, NLU_NEG }, { "并没有", 1.1f, NLU_NEG },
	{ "从不", 1.1f, NLU_NEG }, { "从没", 1.1f, NLU_NEG },
	{ "绝不", 1.2f, NLU_NEG }, { "毫不", 1.2f, NLU_NEG },
	{ "根本不", 1.3f, NLU_NEG }, { "根本没", 1.3f, NLU_NEG },
	{ "一点也不", 1.3f, NLU_NEG }, { "一点都不", 1.3f, NLU_NEG },
	{ "完全不", 1.3f, NLU_NEG }, { "不够", 0.9f, NLU_NEG },
	{ "非常", 1.5f, NLU_INT }, { "很", 1.3f, NLU_INT },
	{ "太", 1.4f, NLU_INT }, { "特别", 1.5f, NLU_INT },
	{ "超", 1.4f, NLU_INT }, { "超级", 1.6f, NLU_INT },
	{ "极", 1.7f, NLU_INT }, { "极其", 1.8f, NLU_INT },
	{ "极度", 1.8f, NLU_INT }, { "十分", 1.5f, NLU_INT },
	{ "真", 1.2f, NLU_INT }, { "真的", 1.2f, NLU_INT },
	{ "挺", 1.1f, NLU_INT }, { "蛮", 1.1f, NLU_INT },
	{ "相当", 1.4f, NLU_INT }, { "格外", 1.4f, NLU_INT },
	{ "尤其", 1.3f, NLU_INT }, { "更", 1.2f, NLU_INT },
	{ "最", 1.6f, NLU_INT }, { "巨", 1.5f, NLU_INT },
	{ "贼", 1.4f, NLU_INT }, { "实在", 1.3f, NLU_INT },
	{ "确实", 1.1f, NLU_INT }, { "严重", 1.4f, NLU_INT },
	{ "简直", 1.5f, NLU_INT }, { "完全", 1.3f, NLU_INT },
	{ "根本", 1.4f, NLU_INT }, { "这么", 1.2f, NLU_INT },
	{ "那么", 1.2f, NLU_INT }, { "如此", 1.3f, NLU_INT },
	{ "太过", 1.4f, NLU_INT }, { "有点", 0.7f, NLU_INT },
	{ "有些", 0.7f, NLU_INT }, { "稍微", 0.6f, NLU_INT },
	{ "比较", 0.85f, NLU_INT }, { "略", 0.7f, NLU_INT },
	{ "但是", 1.0f, NLU_BUT }, { "但", 1.0f, NLU_BUT },
	{ "可是", 1.0f, NLU_BUT }, { "不过", 1.0f, NLU_BUT },
	{ "然而", 1.0f, NLU_BUT },
	{ "不好意思", 0, NLU_NONE }, { "你好", 0, NLU_NONE },
	{ "您好", 0, NLU_NONE }, { "好久", 0, NLU_NONE },
	{ "好像", 0, NLU_NONE }, { "好几", 0, NLU_NONE },
	{ "好多", 0, NLU_NONE }, { "不用", 0, NLU_NONE },
	{ "不客气", 0, NLU_NONE }, { "没事", 0, NLU_NONE },
	{ "没关系", 0, NLU_NONE }, { "不知道", 0, NLU_NONE },
	{ "差不多", 0, NLU_NONE }, { "差点", 0, NLU_NONE },
	{ "不要", 0, NLU_NONE }, { "问一下", 0, NLU_NONE },
	{ "无论", 0, NLU_NONE }, { "无法", 1.0f, NLU_NEG },
	{ "快递", 0, NLU_NONE }, { "快点", 0, NLU_NONE },
	{ "尽快", 0, NLU_NONE }, { "最近", 0, NLU_NONE },
	{ "最后", 0, NLU_NONE }, { "更改", 0, NLU_NONE },
	{ "更换", 0, NLU_NONE }, { "别的", 0, NLU_NONE },
	{ "非要", 0, NLU_NONE },

	/* Emoji and emoticons */
	{ "\xf0\x9f\x91\x8d", 2.0f, NLU_WORD },	/* thumbs up */
	{ "\xf0\x9f\x91\x8e", -2.2f, NLU_WORD },	/* thumbs down */
	{ "\xf0\x9f\x98\x8a", 2.0f, NLU_WORD },	/* smiling eyes */
	{ "\xf0\x9f\x98\x80", 2.0f, NLU_WORD },	/* grinning */
	{ "\xf0\x9f\x99\x82", 1.2f, NLU_WORD },	/* slight smile */
	{ "\xe2\x9d\xa4", 2.2f, NLU_WORD },	/* heart */
	{ "\xf0\x9f\x98\xa1", -2.6f, NLU_WORD },	/* pouting */
	{ "\xf0\x9f\x98\xa0", -2.4f, NLU_WORD },	/* angry */
	{ "\xf0\x9f\x98\xad", -2.2f, NLU_WORD },	/* crying */
	{ "\xf0\x9f\x98\x9e", -2.0f, NLU_WORD },	/* disappointed */
	{ "\xf0\x9f\xa4\xac", -3.0f, NLU_WORD },	/* cursing */
	{ ":)", 1.5f, NLU_WORD }, { ":(", -1.5f, NLU_WORD },
};

#define NLU_LEX_SLOTS	2048
static const struct nlu_lex	*nlu_lex_slots[NLU_LEX_SLOTS];
static pthread_once_t		 nlu_lex_once = PTHREAD_ONCE_INIT;

/* The lexicon's hash slot for a string. */
static size_t
nlu_lex_slot(const char *s, size_t len)
{
	return (nlu_bucket(nlu_hash(0, s, len)) & (NLU_LEX_SLOTS - 1));
}

/* Build the lexicon's hash table (once). */
static void
nlu_lex_init(void)
{
	size_t	i, h, n = sizeof nlu_lexicon / sizeof nlu_lexicon[0];

	if (n * 2 > NLU_LEX_SLOTS)
		log_fatalx("nlu", "msg=\"lexicon too large\" n=%zu", n);
	for (i = 0; i < n; i++) {
		h = nlu_lex_slot(nlu_lexicon[i].word,
		    strlen(nlu_lexicon[i].word));
		while (nlu_lex_slots[h] != NULL)
			h = (h + 1) & (NLU_LEX_SLOTS - 1);
		nlu_lex_slots[h] = &nlu_lexicon[i];
	}
}

/* Look a (lower-case) word up in the lexicon. */
static const struct nlu_lex *
nlu_lex_find(const char *s, size_t len)
{
	const struct nlu_lex	*e;
	size_t			 h;

	h = nlu_lex_slot(s, len);
	while ((e = nlu_lex_slots[h]) != NULL) {
		if (strncmp(e->word, s, len) == 0 && e->word[len] == '\0')
			return (e);
		h = (h + 1) & (NLU_LEX_SLOTS - 1);
	}
	return (NULL);
}

/* One unit of text for the sentiment pass. */
struct nlu_stok {
	const struct nlu_lex	*lex;	/* NULL: a word with no sentiment */
	int			 caps;	/* an English word in capitals */
	int			 stop;	/* a clause boundary */
};

/* Append a sentiment token. */
static void
nlu_stok_add(struct nlu_stok **t, size_t *n, size_t *size,
    const struct nlu_lex *lex, int caps, int stop)
{
	if (*n == *size) {
		*size = *size == 0 ? 32 : *size * 2;
		*t = xreallocarray(*t, *size, sizeof **t);
	}
	(*t)[*n].lex = lex;
	(*t)[*n].caps = caps;
	(*t)[*n].stop = stop;
	(*n)++;
}

/*
 * Cut the folded text into sentiment tokens: English words (two-word
 * phrases first), the longest lexicon match in a run of Han characters,
 * emoji, and clause boundaries.  Counts exclamation marks and letters.
 */
static void
nlu_stokens(const struct nlu_fold *f, struct nlu_stok **tp, size_t *np,
    int *excl, int *allcaps)
{
	const struct nlu_lex	*lex, *plex;
	struct nlu_stok		*t = NULL;
	char			 w[64], pair[130];
	size_t			 i, j, n = 0, size = 0, wl, pl, k, cl, best;
	size_t			 upper = 0, lower = 0;
	int32_t			 c;
	int			 caps;

	*excl = 0;
	for (i = 0; i < f->len; i += cl) {
		cl = nlu_decode(f->s + i, f->len - i, &c);
		if (c < 0x80 && (isalpha((unsigned char)c))) {
			wl = 0;
			caps = 1;
			for (j = i; j < f->len && (isalpha((unsigned char)
			    f->s[j]) || (f->s[j] == '\'' &&
			    isalpha((unsigned char)f->s[j + 1]))); j++) {
				if (islower((unsigned char)f->s[j])) {
					caps = 0;
					lower++;
				} else if (isupper((unsigned char)f->s[j]))
					upper++;
				if (f->s[j] != '\'' && wl < sizeof w - 1)
					w[wl++] = (char)tolower(
					    (unsigned char)f->s[j]);
			}
			w[wl] = '\0';
			cl = j - i;
			if (wl < 2)
				caps = 0;
			lex = nlu_lex_find(w, wl);
			/* don't, isn't */
			if (lex == NULL && wl > 3 &&
			    strcmp(w + wl - 2, "nt") == 0 &&
			    memchr(f->s + i, '\'', j - i) != NULL)
				lex = nlu_lex_find("not", 3);
			/* A two-word phrase wins over its first word. */
			k = j;
			while (k < f->len && f->s[k] == ' ')
				k++;
			if (k > j && k < f->len &&
			    isalpha((unsigned char)f->s[k])) {
				memcpy(pair, w, wl);
				pair[wl] = ' ';
				pl = wl + 1;
				for (; k < f->len &&
				    isalpha((unsigned char)f->s[k]); k++) {
					if (pl < sizeof pair - 1)
						pair[pl++] = (char)tolower(
						    (unsigned char)f->s[k]);
				}
				if ((plex = nlu_lex_find(pair, pl)) != NULL) {
					lex = plex;
					cl = k - i;
				}
			}
			nlu_stok_add(&t, &n, &size, lex, caps, 0);
			continue;
		}
		if (nlu_is_han(c)) {
			/* The longest lexicon entry of up to 4 characters. */
			best = 0;
			lex = NULL;
			for (j = i, k = 0; k < 4 && j < f->len; k++) {
				size_t	l;
				int32_t	c2;

				l = nlu_decode(f->s + j, f->len - j, &c2);
				if (!nlu_is_han(c2))
					break;
				j += l;
				if (nlu_lex_find(f->s + i, j - i) != NULL)
					best = j - i;
			}
			if (best > 0) {
				lex = nlu_lex_find(f->s + i, best);
				cl = best;
			}
			nlu_stok_add(&t, &n, &size, lex, 0, 0);
			continue;
		}
		if (c == '!') {
			(*excl)++;
			nlu_stok_add(&t, &n, &size, NULL, 0, 1);
			continue;
		}
		if (c == ':' && i + 1 < f->len && (f->s[i + 1] == ')' ||
		    f->s[i + 1] == '(')) {
			nlu_stok_add(&t, &n, &size, nlu_lex_find(f->s + i, 2),
			    0, 0);
			cl = 2;
			continue;
		}
		if (c == '.' || c == ',' || c == ';' || c == '?' ||
		    c == '\n' || c == 0x3002 || c == 0x3001 || c == 0xff1b ||
		    c == 0xff1f) {
			nlu_stok_add(&t, &n, &size, NULL, 0, 1);
			continue;
		}
		if (c >= 0x2600 && (lex = nlu_lex_find(f->s + i, cl)) != NULL)
			nlu_stok_add(&t, &n, &size, lex, 0, 0);
	}
	*allcaps = upper > 0 && lower == 0;
	*tp = t;
	*np = n;
}

/* The sentiment value of token i, with negation and intensity. */
static double
nlu_stok_value(const struct nlu_stok *t, size_t n, size_t i, int allcaps)
{
	const struct nlu_lex	*l;
	double			 v = t[i].lex->v, mult = 1, between = 1;
	size_t			 j, k;
	int			 negated = 0;
	float			 negv = 1;

	if (t[i].caps && !allcaps)
		v += v > 0 ? 0.733 : -0.733;
	for (k = 0, j = i; j > 0 && k < 3; k++) {
		j--;
		if (t[j].stop)
			break;
		if ((l = t[j].lex) == NULL)
			continue;
		if (l->kind == NLU_INT || (l->kind == NLU_HAO && j + 1 == i)) {
			if (negated)
				mult *= l->kind == NLU_HAO ? 1.3 : l->v;
			else
				between *= l->kind == NLU_HAO ? 1.3 : l->v;
		} else if (l->kind == NLU_NEG && !negated) {
			negated = 1;
			negv = l->v;
		} else if (l->kind == NLU_WORD || l->kind == NLU_WORD_KEEP)
			break;
	}
	if (!negated)
		return (v * between * mult);
	/* "not very good" is milder than "not good", not stronger. */
	if (between > 1)
		between = 0.8;
	v *= between;
	for (j = i + 1; j < n && j < i + 3 && !t[j].stop; j++) {
		if (t[j].lex != NULL && t[j].lex->kind == NLU_ATALL)
			negv *= t[j].lex->v;
	}
	if (t[i].lex->kind == NLU_WORD_KEEP)
		return (v * mult * negv);
	if (v > 0)
		return (-0.74 * v * mult * negv);
	return (-0.5 * v * mult * negv);
}

/* The sentiment of a folded text. */
static double
nlu_sentiment_fold(const struct nlu_fold *f)
{
	struct nlu_stok		*t;
	const struct nlu_lex	*l;
	size_t			 n, i, but = SIZE_MAX;
	double			 sum = 0, v;
	int			 excl, allcaps;

	pthread_once(&nlu_lex_once, nlu_lex_init);
	nlu_stokens(f, &t, &n, &excl, &allcaps);
	for (i = 0; i < n; i++) {
		if (t[i].lex != NULL && t[i].lex->kind == NLU_BUT) {
			but = i;
			break;
		}
	}
	for (i = 0; i < n; i++) {
		if ((l = t[i].lex) == NULL)
			continue;
		if (l->kind == NLU_HAO) {
			/* 好 before a sentiment word only intensifies it. */
			if (i + 1 < n && t[i + 1].lex != NULL &&
			    (t[i + 1].lex->kind == NLU_WORD ||
			    t[i + 1].lex->kind == NLU_WORD_KEEP))
				continue;
		} else if (l->kind != NLU_WORD && l->kind != NLU_WORD_KEEP)
			continue;
		v = nlu_stok_value(t, n, i, allcaps);
		if (but != SIZE_MAX)
			v *= i < but ? 0.5 : 1.5;
		sum += v;
	}
	if (excl > 4)
		excl = 4;
	if (sum > 0)
		sum += 0.292 * excl;
	else if (sum < 0)
		sum -= 0.292 * excl;
	free(t);
	v = sum / sqrt(sum * sum + 15);
	if (v > 1)
		v = 1;
	if (v < -1)
		v = -1;
	return (v);
}

/* Sentiment in [-1, 1] with negation and intensifiers; lang may be NULL. */
double
nlu_sentiment(const char *text, const char *lang)
{
	struct nlu_fold	f;
	double		v;

	nlu_fold_init(&f, text);
	v = nlu_sentiment_fold(&f);
	nlu_fold_free(&f);
	return (v);
}

/* ------------------------------------------------------------------------
 * Classification.
 */

/*
 * Classify one utterance; fills *r (caller calls nlu_result_clear).  The
 * confidence is the best in-scope intent's probability; when the result is
 * out of scope (intent NULL), runner_up names that best candidate, else
 * the second best.
 */
void
nlu_classify(const struct nlu *m, const char *text, struct nlu_result *r)
{
	struct nlu_decision	 d;
	struct nlu_fold		 f;
	const char		*lang;

	memset(r, 0, sizeof *r);
	if ((lang = nlu_detect_lang(text)) != NULL)
		xsnprintf(r->lang, sizeof r->lang, "%s", lang);
	nlu_decide(m, text, m->min_confidence, &d);
	r->confidence = d.pbest;
	if (d.accepted) {
		r->intent = xstrdup(m->labels[d.best]);
		if (d.second >= 0) {
			r->runner_up = xstrdup(m->labels[d.second]);
			r->runner_up_confidence = d.psecond;
		}
	} else if (d.best >= 0) {
		r->runner_up = xstrdup(m->labels[d.best]);
		r->runner_up_confidence = d.pbest;
	}
	nlu_fold_init(&f, text);
	nlu_entities(m, &f, r);
	r->sentiment = nlu_sentiment_fold(&f);
	nlu_fold_free(&f);
}

/* Free what nlu_classify put in a result. */
void
nlu_result_clear(struct nlu_result *r)
{
	size_t	i;

	free(r->intent);
	free(r->runner_up);
	for (i = 0; i < r->nentities; i++) {
		free(r->entities[i].type);
		free(r->entities[i].value);
	}
	free(r->entities);
	memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------
 * Evaluation.
 */

/* Count a (gold, predicted) pair. */
struct nlu_pair {
	size_t	gold;
	size_t	pred;
	size_t	count;
};

/* Sort pairs by count, then by names' indices, for a stable report. */
static int
nlu_pair_cmp(const void *a, const void *b)
{
	const struct nlu_pair	*x = a, *y = b;

	if (x->count != y->count)
		return (x->count > y->count ? -1 : 1);
	if (x->gold != y->gold)
		return (x->gold < y->gold ? -1 : 1);
	return (x->pred < y->pred ? -1 : (x->pred > y->pred));
}

/*
 * Classify every example with threshold min and compare with its intent
 * ("oos" or empty: out of scope).  Fills *ev (caller calls nlu_eval_clear).
 */
void
nlu_evaluate(const struct nlu *m, const struct nlu_example *ex, size_t n,
    double min, struct nlu_eval *ev)
{
	struct nlu_decision	 d;
	const char		**names;
	size_t			 nnames = 0, i, j, g, p, none, *tp, *fp, *fn;
	size_t			 oos_tp = 0, oos_pred = 0, inscope = 0;
	size_t			 ok_in = 0;
	size_t			 nf1 = 0, *gold_n, npairs = 0;
	struct nlu_pair		*pairs = NULL;
	double			 f1sum = 0, prec, rec;
	const char		*label, *pred;

	memset(ev, 0, sizeof *ev);
	/* Names: the model's labels, then "(none)" for out of scope. */
	names = xreallocarray(NULL, m->nlabels + n + 2, sizeof *names);
	for (i = 0; i < m->nlabels; i++)
		names[nnames++] = m->labels[i];
	none = nnames;
	names[nnames++] = "(none)";
	tp = xcalloc(m->nlabels + n + 2, sizeof *tp);
	fp = xcalloc(m->nlabels + n + 2, sizeof *fp);
	fn = xcalloc(m->nlabels + n + 2, sizeof *fn);
	gold_n = xcalloc(m->nlabels + n + 2, sizeof *gold_n);
	for (i = 0; i < n; i++) {
		if (ex[i].text == NULL || *ex[i].text == '\0')
			continue;
		label = nlu_label(&ex[i]);
		ev->n++;
		nlu_decide(m, ex[i].text, min, &d);
		pred = d.accepted ? m->labels[d.best] : NULL;
		if (strcmp(label, NLU_OOS) == 0)
			g = none;
		else {
			for (g = 0; g < nnames; g++) {
				if (g != none && strcmp(names[g], label) == 0)
					break;
			}
			if (g == nnames)
				names[nnames++] = label;
		}
		p = pred == NULL ? none : nlu_label_index(m, pred);
		gold_n[g]++;
		if (g == none) {
			ev->noos++;
			if (p == none)
				oos_tp++;
		} else {
			inscope++;
			if (p == g)
				ok_in++;
		}
		if (p == none)
			oos_pred++;
		if (p == g) {
			ev->correct++;
			tp[g]++;
		} else {
			fp[p]++;
			fn[g]++;
			for (j = 0; j < npairs; j++) {
				if (pairs[j].gold == g && pairs[j].pred == p)
					break;
			}
			if (j == npairs) {
				pairs = xreallocarray(pairs, npairs + 1,
				    sizeof *pairs);
				pairs[npairs].gold = g;
				pairs[npairs].pred = p;
				pairs[npairs++].count = 0;
			}
			pairs[j].count++;
		}
	}
	for (g = 0; g < nnames; g++) {
		if (g == none || gold_n[g] == 0)
			continue;
		prec = tp[g] + fp[g] == 0 ? 0 : (double)tp[g] /
		    (double)(tp[g] + fp[g]);
		rec = (double)tp[g] / (double)gold_n[g];
		f1sum += prec + rec == 0 ? 0 : 2 * prec * rec / (prec + rec);
		nf1++;
	}
	ev->accuracy = ev->n == 0 ? 0 : (double)ev->correct / (double)ev->n;
	ev->inscope_accuracy = inscope == 0 ? 0 : (double)ok_in /
	    (double)inscope;
	ev->macro_f1 = nf1 == 0 ? 0 : f1sum / (double)nf1;
	ev->oos_precision = oos_pred == 0 ? 0 : (double)oos_tp /
	    (double)oos_pred;
	ev->oos_recall = ev->noos == 0 ? 0 : (double)oos_tp /
	    (double)ev->noos;
	ev->inscope_rejected = inscope == 0 ? 0 : (double)(oos_pred -
	    oos_tp) / (double)inscope;
	if (npairs > 0)
		qsort(pairs, npairs, sizeof *pairs, nlu_pair_cmp);
	for (i = 0; i < npairs && i < NLU_EVAL_CONFUSED; i++) {
		ev->confused[i].gold = xstrdup(pairs[i].gold == none ? NLU_OOS :
		    names[pairs[i].gold]);
		ev->confused[i].predicted = xstrdup(names[pairs[i].pred]);
		ev->confused[i].count = pairs[i].count;
		ev->nconfused++;
	}
	free(pairs);
	free(gold_n);
	free(fn);
	free(fp);
	free(tp);
	free(names);
}

/* Free what nlu_evaluate put in *ev. */
void
nlu_eval_clear(struct nlu_eval *ev)
{
	size_t	i;

	for (i = 0; i < ev->nconfused; i++) {
		free(ev->confused[i].gold);
		free(ev->confused[i].predicted);
	}
	memset(ev, 0, sizeof *ev);
}

/* ------------------------------------------------------------------------
 * Examples: files and the store.
 */

/* Append an example (copies of the strings). */
static void
nlu_examples_add(struct nlu_example **ex, size_t *n, const char *text,
    const char *intent, const char *lang)
{
	struct nlu_example	*e;

	*ex = xreallocarray(*ex, *n + 1, sizeof **ex);
	e = &(*ex)[(*n)++];
	e->text = xstrdup(text);
	e->intent = xstrdup(intent);
	e->lang = lang != NULL && *lang != '\0' ? xstrdup(lang) : NULL;
}

/* Free examples made by nlu_examples_read or nlu_examples_load. */
void
nlu_examples_free(struct nlu_example *ex, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free((char *)ex[i].text);
		free((char *)ex[i].intent);
		free((char *)ex[i].lang);
	}
	free(ex);
}

/* The canonical name of a language column value, or NULL if unknown. */
static const char *
nlu_lang_name(const char *s)
{
	if (*s == '\0')
		return ("");
	if (strcasecmp(s, "en") == 0 || strncasecmp(s, "en-", 3) == 0 ||
	    strncasecmp(s, "en_", 3) == 0)
		return ("en");
	if (strcasecmp(s, "zh") == 0 || strcasecmp(s, "zh-cn") == 0 ||
	    strcasecmp(s, "zh_cn") == 0 || strcasecmp(s, "zh-hans") == 0 ||
	    strcasecmp(s, "zh-tw") == 0 || strcasecmp(s, "zh-hant") == 0 ||
	    strcasecmp(s, "zh-hk") == 0)
		return ("zh-CN");
	return (NULL);
}

/* Trim blanks around a string in place. */
static char *
nlu_trim(char *s)
{
	size_t	len;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		s[--len] = '\0';
	return (s);
}

/* Check and add one record's example. */
static int
nlu_record(const char *path, unsigned line, char *text, char *intent,
    char *lang, struct nlu_example **ex, size_t *n, char **cause)
{
	const char	*l = "";
	size_t		 i;

	text = nlu_trim(text);
	intent = nlu_trim(intent);
	if (*text == '\0') {
		*cause = xasprintf("%s:%u: empty text", path, line);
		return (-1);
	}
	for (i = 0; intent[i] != '\0'; i++) {
		if (!isalnum((unsigned char)intent[i]) && intent[i] != '_' &&
		    intent[i] != '-' && intent[i] != '.') {
			*cause = xasprintf("%s:%u: intent \"%s\": only "
			    "letters, digits, _ - and . are allowed", path,
			    line, intent);
			return (-1);
		}
	}
	if (i > 64) {
		*cause = xasprintf("%s:%u: intent longer than 64 bytes", path,
		    line);
		return (-1);
	}
	if (lang != NULL && (l = nlu_lang_name(nlu_trim(lang))) == NULL) {
		*cause = xasprintf("%s:%u: lang \"%s\": use en or zh-CN", path,
		    line, lang);
		return (-1);
	}
	nlu_examples_add(ex, n, text, *intent == '\0' ? NLU_OOS : intent, l);
	return (0);
}

/* Read a CSV file's examples (header text,intent[,lang]). */
static int
nlu_read_csv(const char *path, const char *buf, size_t len,
    struct nlu_example **ex, size_t *n, char **cause)
{
	struct csv		r;
	struct csv_record	rec;
	int			ct, ci, cl, got;

	csv_init(&r, path, buf, len);
	if ((got = csv_next(&r, &rec, cause)) <= 0) {
		if (got == 0)
			*cause = xasprintf("%s: empty file", path);
		return (-1);
	}
	ct = csv_column(&rec, "text");
	ci = csv_column(&rec, "intent");
	cl = csv_column(&rec, "lang");
	if (ct < 0 || ci < 0) {
		*cause = xasprintf("%s:%u: the header must name the columns "
		    "text and intent (and optionally lang)", path, rec.line);
		csv_record_clear(&rec);
		return (-1);
	}
	csv_record_clear(&rec);
	while ((got = csv_next(&r, &rec, cause)) == 1) {
		if (rec.nfields <= (size_t)ct || rec.nfields <= (size_t)ci ||
		    (cl >= 0 && rec.nfields <= (size_t)cl)) {
			*cause = xasprintf("%s:%u: %zu field%s, the header has "
			    "more", path, rec.line, rec.nfields,
			    rec.nfields == 1 ? "" : "s");
			csv_record_clear(&rec);
			return (-1);
		}
		if (nlu_record(path, rec.line, rec.fields[ct], rec.fields[ci],
		    cl >= 0 ? rec.fields[cl] : NULL, ex, n, cause) != 0) {
			csv_record_clear(&rec);
			return (-1);
		}
		csv_record_clear(&rec);
	}
	return (got);
}

/* Split a TSV line into at most max fields in place; returns the count. */
static size_t
nlu_tsv_split(char *line, char **fields, size_t max)
{
	size_t	n = 0;
	char	*p = line, *tab;

	for (;;) {
		if (n == max)
			return (max + 1);
		fields[n++] = p;
		if ((tab = strchr(p, '\t')) == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	return (n);
}

/* Read a TSV file's examples (a header naming text and intent columns). */
static int
nlu_read_tsv(const char *path, char *buf, struct nlu_example **ex,
    size_t *n, char **cause)
{
	char		*line, *next, *fields[64];
	size_t		 nf, nhead = 0, i;
	unsigned	 lineno = 0;
	int		 ct = -1, ci = -1, cl = -1;

	if (strncmp(buf, "\xef\xbb\xbf", 3) == 0)
		buf += 3;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*nlu_trim(line) == '\0')
			continue;
		nf = nlu_tsv_split(line, fields, 64);
		if (nf > 64) {
			*cause = xasprintf("%s:%u: more than 64 fields", path,
			    lineno);
			return (-1);
		}
		if (nhead == 0) {
			for (i = 0; i < nf; i++) {
				fields[i] = nlu_trim(fields[i]);
				if (strcasecmp(fields[i], "text") == 0)
					ct = (int)i;
				else if (strcasecmp(fields[i], "intent") == 0)
					ci = (int)i;
				else if (strcasecmp(fields[i], "lang") == 0)
					cl = (int)i;
			}
			if (ct < 0 || ci < 0) {
				*cause = xasprintf("%s:%u: the header must "
				    "name the columns text and intent", path,
				    lineno);
				return (-1);
			}
			nhead = nf;
			continue;
		}
		if (nf != nhead) {
			*cause = xasprintf("%s:%u: %zu fields, the header has "
			    "%zu", path, lineno, nf, nhead);
			return (-1);
		}
		if (nlu_record(path, lineno, fields[ct], fields[ci],
		    cl >= 0 ? fields[cl] : NULL, ex, n, cause) != 0)
			return (-1);
	}
	if (nhead == 0) {
		*cause = xasprintf("%s: empty file", path);
		return (-1);
	}
	return (0);
}

/*
 * Read examples from a UTF-8 CSV file (header text,intent[,lang]; RFC 4180
 * quoting) or, if the name ends in .tsv, a tab-separated file with a
 * header naming at least text and intent.  An empty intent means out of
 * scope ("oos").  Returns 0 with *ex (free with nlu_examples_free) or -1
 * with *cause naming file:line.
 */
int
nlu_examples_read(const char *path, struct nlu_example **ex, size_t *n,
    char **cause)
{
	char	*buf;
	size_t	 len = strlen(path);
	int	 r;

	*ex = NULL;
	*n = 0;
	if ((buf = file_read(path, NLU_FILE_MAX, cause)) == NULL)
		return (-1);
	if (len > 4 && strcasecmp(path + len - 4, ".tsv") == 0) {
		if (nlu_utf8_clean(buf) != NULL) {
			*cause = xasprintf("%s: not valid UTF-8", path);
			r = -1;
		} else
			r = nlu_read_tsv(path, buf, ex, n, cause);
	} else
		r = nlu_read_csv(path, buf, strlen(buf), ex, n, cause);
	free(buf);
	if (r != 0) {
		nlu_examples_free(*ex, *n);
		*ex = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

/*
 * Store examples under a source name (the file they came from): replace 0
 * replaces that source's earlier examples; replace 1 deletes every stored
 * example and turns the demo examples off.
 */
int
nlu_examples_save(struct store *s, const char *source,
    const struct nlu_example *ex, size_t n, int replace, char **cause)
{
	sqlite3		*db = store_db(s);
	sqlite3_stmt	*del = NULL, *ins = NULL;
	int64_t		 now = (int64_t)time(NULL) * 1000;
	size_t		 i;

	if (store_begin(s) != 0) {
		*cause = xasprintf("cannot begin a transaction: %s",
		    sqlite3_errmsg(db));
		return (-1);
	}
	if (sqlite3_prepare_v2(db, replace ? "DELETE FROM nlu_examples" :
	    "DELETE FROM nlu_examples WHERE source = ?1", -1, &del,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO nlu_examples (text, intent, "
	    "lang, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &ins,
	    NULL) != SQLITE_OK)
		goto fail;
	if (!replace)
		sqlite3_bind_text(del, 1, source, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE)
		goto fail;
	for (i = 0; i < n + (replace ? 1 : 0); i++) {
		sqlite3_reset(ins);
		if (i == n) {
			/* The marker that turns the demo's examples off. */
			sqlite3_bind_text(ins, 1, "", -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, "", -1, SQLITE_STATIC);
			sqlite3_bind_null(ins, 3);
			sqlite3_bind_text(ins, 4, NLU_DEMO_OFF_SOURCE, -1,
			    SQLITE_STATIC);
		} else {
			sqlite3_bind_text(ins, 1, ex[i].text, -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, nlu_label(&ex[i]), -1,
			    SQLITE_STATIC);
			if (ex[i].lang != NULL)
				sqlite3_bind_text(ins, 3, ex[i].lang, -1,
				    SQLITE_STATIC);
			else
				sqlite3_bind_null(ins, 3);
			sqlite3_bind_text(ins, 4, source, -1, SQLITE_STATIC);
		}
		sqlite3_bind_int64(ins, 5, now);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	if (store_commit(s, cause) != 0)
		return (-1);
	return (0);

fail:
	*cause = xasprintf("nlu_examples: %s", sqlite3_errmsg(db));
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	store_rollback(s);
	return (-1);
}

/*
 * The examples stored by `kefuctl nlu import` plus, unless replaced, the
 * built-in demo examples file; the caller frees with nlu_examples_free.
 */
int
nlu_examples_load(struct store *s, const char *demo_path,
    struct nlu_example **ex, size_t *n, char **cause)
{
	struct nlu_example	*demo;
	sqlite3_stmt		*st = NULL;
	sqlite3			*db;
	size_t			 ndemo, i;
	int			 r, demo_off = 0;
	const char		*source, *lang;

	*ex = NULL;
	*n = 0;
	if (s != NULL) {
		db = store_db(s);
		if (sqlite3_prepare_v2(db, "SELECT text, intent, lang, source "
		    "FROM nlu_examples ORDER BY id", -1, &st, NULL) !=
		    SQLITE_OK) {
			*cause = xasprintf("nlu_examples: %s",
			    sqlite3_errmsg(db));
			return (-1);
		}
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			source = (const char *)sqlite3_column_text(st, 3);
			if (source != NULL &&
			    strcmp(source, NLU_DEMO_OFF_SOURCE) == 0) {
				demo_off = 1;
				continue;
			}
			lang = (const char *)sqlite3_column_text(st, 2);
			nlu_examples_add(ex, n,
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1), lang);
		}
		sqlite3_finalize(st);
		if (r != SQLITE_DONE) {
			*cause = xasprintf("nlu_examples: %s",
			    sqlite3_errmsg(db));
			nlu_examples_free(*ex, *n);
			*ex = NULL;
			*n = 0;
			return (-1);
		}
	}
	if (demo_off || demo_path == NULL || *demo_path == '\0')
		return (0);
	if (nlu_examples_read(demo_path, &demo, &ndemo, cause) != 0) {
		nlu_examples_free(*ex, *n);
		*ex = NULL;
		*n = 0;
		return (-1);
	}
	*ex = xreallocarray(*ex, *n + ndemo + 1, sizeof **ex);
	for (i = 0; i < ndemo; i++)
		(*ex)[(*n)++] = demo[i];
	free(demo);
	return (0);
}
