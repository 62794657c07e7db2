/*
 * demo.js: the demo shop page's own behaviour (index.html): a toast for
 * "Add to cart" and the "try" buttons that put a question in the chat box.
 * The widget itself is the one <script src="/kefu-widget.js"> tag.  A
 * separate file because kefud's Content-Security-Policy (script-src 'self')
 * refuses inline scripts.
 */
(function () {
	var toast = document.querySelector('.toast'), timer;
	document.querySelectorAll('.card .btn').forEach(function (b) {
		b.addEventListener('click', function () {
			toast.textContent = 'This is a demo shop · 演示商城，商品不出售';
			toast.hidden = false;
			clearTimeout(timer);
			timer = setTimeout(function () { toast.hidden = true; }, 2500);
		});
	});
	document.querySelectorAll('[data-try]').forEach(function (b) {
		b.addEventListener('click', function () {
			if (window.KefuWidget)
				window.KefuWidget.compose(b.getAttribute('data-try'));
		});
	});
})();
